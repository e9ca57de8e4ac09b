import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { Ec2Provider } from "../../controller/cloud/ec2-provider.ts";
import type { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import type { Clock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { describeError } from "../../lib/errors.ts";
import type { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { ProgressSampler, type ProgressSnapshot } from "../rehearsal/progress.ts";
import { terminatePool } from "../rehearsal/rehearsal.ts";
import { planRehearsalExport } from "../rehearsal/setup.ts";
import { ControllerGroup } from "./controllers.ts";
import { type ChaosTargets, FaultInjector } from "./faults.ts";
import type { PlannedFault } from "./schedule.ts";

/**
 * One export of the chaos run, from plan to SUCCEEDED: planned as `export plan` does, run by two `controller run`
 * processes (leader and standby), watched through the operator's own view of the state table, with the fault
 * schedule fired into it (none for the clean run), and ended by stopping the controllers and terminating the pool.
 */
export interface PhaseOptions {
  name: "clean" | "chaos";
  spec: ExportSpec;
  /** The controller role's session, every AWS endpoint at the sim (the controllers and `export plan`). */
  controllerEnv: Record<string, string | undefined>;
  stateTable: string;
  pool: string;
  settingsFile: string;
  logDir: string;
  /** The operator's stores, straight at the stack. */
  jobs: DynamoJobStore;
  fleet: DynamoFleetStore;
  /** The sim's EC2 as the controller role (to terminate the pool at the end). */
  cloud: Ec2Provider;
  clock: Clock;
  timeoutMs: number;
  progressIntervalMs: number;
  /** Faults and what they hit; absent for the clean run. */
  chaos?: { schedule: PlannedFault[]; targets: Omit<ChaosTargets, "exportId" | "controllers" | "jobs" | "fleet" | "clock" | "log"> };
  log: (line: string) => void;
  onProgress?: (s: ProgressSnapshot) => void;
}

export interface PhaseResult {
  exportId: string;
  manifestKey: string;
  partitions: number;
  exportMs: number;
  injector: FaultInjector | null;
  /** From the controllers' logs: what finalize deleted and aborted. */
  finalize: { orphansDeleted: number; uploadsAborted: number } | null;
}

export async function runPhase(o: PhaseOptions): Promise<PhaseResult> {
  const { clock, log } = o;
  const ddb = dynamoClient(o.controllerEnv);
  const plan = await planRehearsalExport({ jobs: o.jobs, clock, env: o.controllerEnv, ddb, stateTable: o.stateTable }, o.spec).finally(() =>
    ddb.destroy(),
  );
  const exportId = plan.record.exportId;
  log(`${o.name}: export ${exportId} planned, ${plan.record.estimatedRows.toLocaleString("en-US")} rows in ${plan.partitions} partitions`);
  const logDir = join(o.logDir, o.name);
  mkdirSync(logDir, { recursive: true });
  const controllers = new ControllerGroup({
    env: o.controllerEnv,
    settingsFile: o.settingsFile,
    logDir,
    fleet: o.fleet,
    clock,
    name: `chaos-${o.name}`,
  });
  const injector = o.chaos
    ? new FaultInjector({ ...o.chaos.targets, exportId, controllers, jobs: o.jobs, fleet: o.fleet, clock, log }, o.chaos.schedule)
    : null;
  const started = clock.now();
  controllers.ensure(2);
  try {
    await watch(o, { exportId, started, injector });
  } finally {
    await injector?.finish();
    await controllers.stop();
    await terminatePool(o.cloud, o.fleet, o.pool, clock).catch((err) => log(`${o.name}: terminating the pool: ${describeError(err)}`));
  }
  const exportMs = clock.now() - started;
  const record = await o.jobs.getExport(exportId);
  if (!record?.manifestKey) throw new Error(`${o.name}: export ${exportId} SUCCEEDED without a manifest`);
  log(`${o.name}: export ${exportId} SUCCEEDED after ${(exportMs / 1000).toFixed(1)} s`);
  return {
    exportId,
    manifestKey: record.manifestKey,
    partitions: plan.partitions,
    exportMs,
    injector,
    finalize: finalized(controllers, exportId),
  };
}

/** Until the export SUCCEEDED: progress every interval, and the faults that are due. */
async function watch(o: PhaseOptions, run: { exportId: string; started: number; injector: FaultInjector | null }): Promise<void> {
  const { clock, log } = o;
  const sampler = new ProgressSampler({ jobs: o.jobs, fleet: o.fleet, clock }, run.exportId, o.pool, run.started);
  let last: ProgressSnapshot | null = null;
  for (;;) {
    try {
      last = await sampler.sample();
      o.onProgress?.(last);
    } catch (err) {
      log(`${o.name}: sampling progress failed (retrying): ${describeError(err)}`);
    }
    if (last?.state === "SUCCEEDED") return;
    if (last && (last.state === "FAILED" || last.state === "CANCELLED"))
      throw new Error(`${o.name}: export ${run.exportId} ended ${last.state}`);
    if (clock.now() - run.started > o.timeoutMs) {
      throw new Error(
        `${o.name}: export ${run.exportId} did not finish within ${Math.round(o.timeoutMs / 1000)} s (last: ${JSON.stringify(last)})`,
      );
    }
    const fraction = last && last.rowsTotal > 0 ? last.rows / last.rowsTotal : 0;
    if (run.injector) await run.injector.tick(fraction);
    await clock.sleep(o.progressIntervalMs);
  }
}

function finalized(controllers: ControllerGroup, exportId: string): PhaseResult["finalize"] {
  const escaped = exportId.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const line = controllers.grep(new RegExp(`finalized export ${escaped}:`))[0];
  const m = line && /(\d+) orphan objects deleted, (\d+) uploads aborted/.exec(line);
  return m ? { orphansDeleted: Number(m[1]), uploadsAborted: Number(m[2]) } : null;
}
