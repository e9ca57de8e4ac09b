import type { Clock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import type { ExportProgress, JobStore } from "../../lib/jobs/job-store.ts";
import { DynamoFleetStore } from "../store/dynamo-fleet-store.ts";
import type { FleetStore } from "../store/fleet-store.ts";
import { runLocalFleet } from "./local-fleet.ts";

/**
 * Runs an export's partitions on agent processes here until every partition is DONE or nothing more can progress,
 * without finalizing: the scheduler's local mode (controller/schedule/run-attempt.ts), which finalizes behind its
 * quality gate. The same path as `export run --local` (local-fleet.ts: the controller's reconcilers over a
 * LocalCloudProvider), so a dead agent is replaced by the interruption and provisioning reconcilers, not by a loop of
 * its own. Pools and nodes go to the state table's FleetStore (`stateTable`) unless `fleet` is given.
 */
export interface LocalRunOptions {
  store: JobStore;
  clock: Clock;
  exportId: string;
  /** The export spec's pool (what its partitions are queued under); the local pool record is `local-<pool>`. */
  pool: string;
  stateTable: string;
  workers: number;
  /** Command that starts one agent, e.g. [process.execPath, "bin/spotferry.mjs"]. */
  agentCommand: string[];
  leaseSeconds: number;
  logDir: string;
  env?: NodeJS.ProcessEnv;
  fleet?: FleetStore;
  onProgress?: (p: ExportProgress, workers: number) => void;
  signal?: AbortSignal;
}

export interface LocalRunResult {
  done: boolean;
  progress: ExportProgress;
  agentsStarted: number;
  agentsDied: number;
  /** Leases the run's controller took back: reaped after expiry, or revoked from a lost agent. */
  reaped: number;
  reason?: string;
}

export async function runLocalAgents(opts: LocalRunOptions): Promise<LocalRunResult> {
  const client = opts.fleet ? null : dynamoClient();
  const fleet = opts.fleet ?? new DynamoFleetStore({ client: client!, tableName: opts.stateTable, clock: opts.clock });
  try {
    const r = await runLocalFleet({ ...opts, jobs: opts.store, fleet, claimPool: opts.pool });
    return {
      done: r.done,
      progress: r.progress,
      agentsStarted: r.agentsStarted,
      agentsDied: r.agentsDied,
      reaped: r.reaped + r.revoked,
      ...(r.reason ? { reason: r.reason } : {}),
    };
  } finally {
    client?.destroy();
  }
}
