import { createWriteStream } from "node:fs";
import { availableParallelism, hostname } from "node:os";
import { join } from "node:path";
import type { ExportRecord } from "../../config/records.ts";
import { controllerSettings } from "../../config/settings.ts";
import { type Clock, isoAt } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import type { ExportProgress, JobStore } from "../../lib/jobs/job-store.ts";
import { LocalCloudProvider } from "../cloud/local-provider.ts";
import { Controller, defaultReconcilers, type NamedReconciler } from "../controller.ts";
import type { SplitFinder } from "../planner/split-points.ts";
import { staticTemplateSource } from "../reconcilers/context.ts";
import type { FleetStore } from "../store/fleet-store.ts";
import { localPoolName, localPoolSpec, scopedFleet, scopedJobs, type TakenBack } from "./local-views.ts";
import { StartFailures } from "./start-failures.ts";

/**
 * A local run: this machine plays the fleet. The controller's own reconcilers run over the real stores (scoped to
 * the run's pool and export, local-views.ts) and a LocalCloudProvider whose instances are agent processes, so a
 * killed agent is found by the interruption reconciler (its process is gone), its leases are revoked with their
 * cursors and provisioning launches the replacement, exactly as for a reclaimed spot node.
 */
export interface LocalFleetOptions {
  jobs: JobStore;
  fleet: FleetStore;
  /** Real time in practice: the agents are real processes. */
  clock: Clock;
  exportId: string;
  /** The export spec's pool: its partitions are queued under it, so the agents claim from it. */
  claimPool: string;
  stateTable: string;
  workers: number;
  /**
   * Processes per agent (agent/processes.ts), each working on its own partition. Default: this machine's cores
   * shared among the workers (at least 1), so one worker uses every core and many workers do not oversubscribe them.
   */
  processesPerAgent?: number;
  /** Argv that starts the CLI, e.g. [process.execPath, "bin/spotferry.mjs"]. */
  agentCommand: string[];
  leaseSeconds: number;
  /** Agent logs (`<node id>.log`) and the run's controller log (`controller.log`). */
  logDir: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Finalizes the export; the finalizing reconciler calls it once every partition is DONE, and the run ends when the
   * export is SUCCEEDED. Without it (a schedule's run, which its schedule finalizes) the run ends when all are DONE.
   */
  finalize?: (exportId: string) => Promise<void>;
  /** Split keys from the source's index for idle agents (controller/planner/split-points.ts); without it, no splits. */
  splitter?: SplitFinder;
  onProgress?: (p: ExportProgress, agents: number) => void;
  signal?: AbortSignal;
  /** Controller lines, besides controller.log. */
  log?: (line: string) => void;
}

export interface LocalFleetResult {
  done: boolean;
  state: ExportRecord["state"] | null;
  progress: ExportProgress;
  pool: string;
  agentsStarted: number;
  agentsDied: number;
  /** Leases of this export the lease reaper returned (expired before anyone took them back). */
  reaped: number;
  /** Leases of this export the controller took back from lost nodes (ledger event `revoked`). */
  revoked: number;
  reason?: string;
}

/**
 * The reconcilers a local run needs, in the fleet's order: metrics is left out (no CloudWatch here), finalizing when
 * the caller finalizes itself. Reconcilers that would find nothing to do locally stay, so an operator's `rotate` or
 * `drain` of a local node works as on a fleet.
 */
const LOCAL = new Set([
  "lease-reaping",
  "interruption",
  "draining",
  "rotation",
  "splitting",
  "provisioning",
  "scale-down",
  "finalizing",
  "garbage-collection",
]);

/**
 * A fleet learns of a lost instance from DescribeInstances a while after the fact; a process exit is known at once,
 * and someone waits at the terminal for the run to end. So interruption is polled every second here, and finalizing
 * runs as soon as the run sees every partition DONE (a waiting finalize was 0.6 s of a 9 s export).
 */
const EAGER: Record<string, number> = { interruption: 1_000 };

/**
 * The run reads its export's progress every OBSERVE_MS and its record every RECORD_MS (and at every step once all is
 * DONE): each read is a signed DynamoDB request, and the requests of polling were most of the run process's CPU.
 */
const OBSERVE_MS = 250;
const RECORD_MS = 2_000;

function localReconcilers(finalizing: boolean): NamedReconciler[] {
  return defaultReconcilers()
    .filter((r) => LOCAL.has(r.name) && (finalizing || r.name !== "finalizing"))
    .map((r) => {
      const most = EAGER[r.name];
      if (most === undefined) return r;
      return { name: r.name, run: async (ctx) => ({ nextRunInMs: Math.min(most, (await r.run(ctx)).nextRunInMs) }) };
    });
}

export const defaultProcesses = (workers: number) => Math.max(1, Math.floor(availableParallelism() / Math.max(1, workers)));

/** Agents that failed to start in a row (with no progress between) before the run stops: two rounds of workers. */
const startFailureLimit = (workers: number) => Math.max(3, 2 * workers);

/** After this many failed finalize attempts the run gives up (the fleet would retry for ever; a terminal should not). */
const FINALIZE_ATTEMPTS = 3;

export async function runLocalFleet(opts: LocalFleetOptions): Promise<LocalFleetResult> {
  const { clock } = opts;
  const pool = localPoolName(opts.claimPool);
  const counts: TakenBack = { reaped: 0, revoked: 0 };
  const processes = opts.processesPerAgent ?? defaultProcesses(opts.workers);
  const provider = new LocalCloudProvider({
    clock,
    agentCommand: opts.agentCommand,
    extraAgentFlags: [`--processes=${processes}`],
    stateTable: opts.stateTable,
    leaseSeconds: opts.leaseSeconds,
    logDir: opts.logDir,
    env: opts.env,
    claimPool: () => opts.claimPool,
  });
  const logFile = createWriteStream(join(opts.logDir, "controller.log"), { flags: "a" });
  const log = (line: string) => {
    logFile.write(`${isoAt(clock)} ${line}\n`);
    opts.log?.(line);
  };
  const finalizeErrors: string[] = [];
  const finalize = opts.finalize;
  await opts.fleet.applyPool(localPoolSpec(pool, { workers: opts.workers, partitionsPerNode: processes }));
  const controller = new Controller({
    owner: `${hostname()}:${process.pid}:local`,
    clock,
    cloud: provider,
    fleet: scopedFleet(opts.fleet, { pool, clock }),
    jobs: scopedJobs(opts.jobs, { exportId: opts.exportId, pool, counts }),
    settings: controllerSettings.parse({
      stateTable: opts.stateTable,
      partitionLease: opts.leaseSeconds,
      // One machine, one clock: no skew to allow for beyond scheduling noise.
      clockSkewMargin: 1,
    }),
    templates: staticTemplateSource("# agent processes of a local run: LocalCloudProvider builds their command line\n"),
    finalize: async (id) => {
      if (!finalize || id !== opts.exportId) return;
      await finalize(id).catch((err) => {
        finalizeErrors.push(describeError(err));
        throw err;
      });
    },
    splitter: opts.splitter,
    reconcilers: localReconcilers(finalize !== undefined),
    log,
  });
  log(
    `local run of export ${opts.exportId}: pool ${pool} (claims from ${opts.claimPool}), up to ${opts.workers} agents of ${processes} processes`,
  );
  let outcome: Outcome = { done: false, state: null, progress: await opts.jobs.progress(opts.exportId) };
  const startFailures = new StartFailures({ logDir: opts.logDir, idPrefix: provider.idPrefix, limit: startFailureLimit(opts.workers) });
  const watch: Watch = { finalizing: finalize !== undefined, finalizeErrors, record: null, recordAt: Number.NEGATIVE_INFINITY };
  try {
    for (;;) {
      const { nextAt } = await controller.step();
      outcome = await observe(opts, watch);
      opts.onProgress?.(outcome.progress, provider.stats.running);
      if (!outcome.done && !outcome.reason) outcome.reason = (await startFailures.check(provider.stats, markOf(outcome))) ?? undefined;
      if (outcome.done || outcome.reason) break;
      if (opts.signal?.aborted) {
        outcome.reason = "interrupted";
        break;
      }
      // All DONE: finalize at the next step, 100 ms from now (the floor, so a finalize that keeps waiting cannot spin).
      const ready = watch.finalizing && outcome.state === "RUNNING" && allDone(outcome.progress);
      if (ready) controller.wake("finalizing");
      const wait = ready ? 100 : Math.min(OBSERVE_MS, Math.max(100, nextAt - clock.now()));
      await clock.sleep(wait, opts.signal).catch(() => {});
    }
  } finally {
    await controller.stop();
    await provider.shutdown();
    await retireNodes(opts.fleet, { pool, clock, prefix: provider.idPrefix }).catch((err) =>
      log(`recording the end: ${describeError(err)}`),
    );
    log(`local run of export ${opts.exportId} ended: ${outcome.done ? "done" : (outcome.reason ?? "stopped")}`);
    await new Promise<void>((resolve) => logFile.end(resolve));
  }
  const { launched, died } = provider.stats;
  return { ...outcome, pool, agentsStarted: launched, agentsDied: died, reaped: counts.reaped, revoked: counts.revoked };
}

type Outcome = { done: boolean; state: ExportRecord["state"] | null; progress: ExportProgress; reason?: string };

/** Changes whenever the export gets anywhere: a chunk committed, a partition done, failed for good or split off. */
const markOf = (o: Outcome) => {
  const { total, byState } = o.progress;
  return `${total.chunks}/${total.partitions}/${byState.DONE.partitions}/${byState.QUARANTINED.partitions}`;
};

const allDone = (p: ExportProgress) => p.total.partitions > 0 && p.byState.DONE.partitions === p.total.partitions;

/** What the run knows of its export between steps: the record is re-read only when due (RECORD_MS) or all is DONE. */
interface Watch {
  finalizing: boolean;
  finalizeErrors: string[];
  record: ExportRecord | null;
  recordAt: number;
}

/** Where the export stands, and why the run should stop if it should. */
async function observe(opts: LocalFleetOptions, o: Watch): Promise<Outcome> {
  const progress = await opts.jobs.progress(opts.exportId);
  const now = opts.clock.now();
  if (allDone(progress) || now - o.recordAt >= RECORD_MS) {
    o.record = await opts.jobs.getExport(opts.exportId);
    o.recordAt = now;
  }
  const record = o.record;
  const state = record?.state ?? null;
  const { PENDING, LEASED, QUARANTINED } = progress.byState;
  const base = { state, progress };
  if (!record) return { ...base, done: false, reason: `export ${opts.exportId} is gone` };
  if (state === "SUCCEEDED" || (!o.finalizing && allDone(progress))) return { ...base, done: true };
  if (state === "FAILED" || state === "CANCELLED") {
    return { ...base, done: false, reason: `export is ${state}${record.error ? `: ${record.error}` : ""}` };
  }
  if (o.finalizeErrors.length >= FINALIZE_ATTEMPTS) {
    return { ...base, done: false, reason: `finalizing failed ${o.finalizeErrors.length} times: ${o.finalizeErrors.at(-1)}` };
  }
  if (PENDING.partitions + LEASED.partitions === 0 && QUARANTINED.partitions > 0) {
    const reason = `${QUARANTINED.partitions} partitions are quarantined (see \`spotferry export show ${opts.exportId} --state QUARANTINED\`)`;
    return { ...base, done: false, reason };
  }
  return { ...base, done: false };
}

/**
 * The run's processes are stopped: their node records say so. A fleet's scale-down and draining would get there a
 * pass later; a local run ends first, and a record left READY would look like a lost node to the next run.
 */
async function retireNodes(fleet: FleetStore, o: { pool: string; clock: Clock; prefix: string }): Promise<void> {
  for (const n of await fleet.listNodes(o.pool)) {
    if (n.lifecycle === "TERMINATED" || !n.instanceId.startsWith(`${o.prefix}-`)) continue;
    await fleet.updateNode(n.pool, n.instanceId, n.version, {
      lifecycle: "TERMINATED",
      terminatedAt: isoAt(o.clock),
      reason: n.reason ?? "local run ended",
      currentPartition: null,
    });
  }
}
