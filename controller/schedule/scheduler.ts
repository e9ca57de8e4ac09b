import type { S3Client } from "@aws-sdk/client-s3";
import type { Connection } from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { Clock } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { LeaseKeeper } from "../../lib/leases/keeper.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { describeTable } from "../../lib/mysql/schema.ts";
import type { LocalRunOptions } from "../local/local-run.ts";
import type { RunRecord, ScheduleStore } from "../store/schedule-store.ts";
import { attemptRun, type TickContext } from "./run-attempt.ts";
import { probeWatermark, runDirValue } from "./watermark.ts";

/**
 * One tick of an incremental schedule (`spotferry schedule run`): take the schedule's lease, then either carry on
 * with the run in flight (same bounds: a failed attempt is retried as a new export under its own attempt prefix) or
 * take a new watermark and, if there are new rows, start a run. A run is a normal export of the schedule's spec with
 * the watermark range added to its filter and its columns fixed by the drift policy; locally its partitions run on
 * agent processes here; with a fleet the controller's pool runs them. Either way the schedule finalizes the run
 * itself (run-attempt.ts), so its quality checks decide before the manifest is written. The watermark moves only in
 * ScheduleStore.commitRun, after the manifest is in S3.
 */
export interface SchedulerDeps {
  jobs: JobStore;
  schedules: ScheduleStore;
  s3: S3Client;
  /** Schedule time: lease expiry, run directory names, the interval between ticks. */
  clock: Clock;
  /** Who ticks (lease owner), e.g. "host-pid". */
  owner: string;
  /** Local mode: this machine's agents run each run's partitions. Without it, the controller's fleet does. */
  local?: Omit<LocalRunOptions, "store" | "clock" | "exportId" | "pool" | "logDir" | "onProgress"> & { logDir: string };
  env?: Record<string, string | undefined>;
  log?: (line: string) => void;
  leaseMs?: number;
}

export type TickAction = "busy" | "no-new-rows" | "committed" | "failed" | "started" | "waiting";

export interface TickResult {
  action: TickAction;
  run: RunRecord | null;
  message: string;
}

const DEFAULT_LEASE_MS = 10 * 60_000;

export async function tick(deps: SchedulerDeps, spec: ExportSpec): Promise<TickResult> {
  const { schedules, owner } = deps;
  const name = spec.name;
  if (!spec.incremental) throw new Error(`export ${name} has no incremental block; schedules need one`);
  const leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
  await schedules.ensureSchedule(name);
  if (!(await schedules.acquireLease(name, owner, leaseMs))) {
    const s = await schedules.getSchedule(name);
    return { action: "busy", run: null, message: `schedule ${name} is being ticked by ${s?.leaseOwner ?? "someone else"}` };
  }
  // Keep the lease while a long local run goes on (never while the process is gone: it then expires). Every write of
  // the tick is conditioned on holding it, so a lost lease fails the tick's next write instead of racing a successor.
  const keeper = new LeaseKeeper({
    what: `the lease of schedule ${name}`,
    clock: deps.clock,
    leaseMs,
    skewMs: Math.floor(leaseMs / 10),
    renew: () => schedules.acquireLease(name, owner, leaseMs),
    onLost: (reason) => deps.log?.(`${reason.message}; this tick's next write will be refused`),
    onError: (err) => deps.log?.(`renewing the lease of schedule ${name} failed (will retry): ${describeError(err)}`),
  }).start();
  let conn: Connection | null = null;
  try {
    conn = await openSource(spec.source, deps.env);
    return await tickHeld(deps, spec, conn);
  } finally {
    await keeper.stop();
    await conn?.end().catch(() => {});
    await schedules.releaseLease(name, owner).catch(() => {});
  }
}

async function tickHeld(deps: SchedulerDeps, spec: ExportSpec, conn: Connection): Promise<TickResult> {
  const { schedules, owner } = deps;
  const name = spec.name;
  const sched = (await schedules.getSchedule(name))!;
  const info = await describeTable(conn, spec.source.database, spec.source.table);
  let run: RunRecord;
  if (sched.currentRun !== null) {
    run = (await schedules.getRun(name, sched.currentRun))!;
  } else {
    const lo = sched.watermark ?? spec.incremental!.startAfter ?? null;
    const probe = await probeWatermark(conn, info, spec, lo);
    if (probe.rows === 0 || probe.hi === null) {
      const note = `no new rows after ${lo ?? "the start"} (checked up to ${probe.hi ?? "an empty table"})`;
      await schedules.touch(name, owner, note);
      return { action: "no-new-rows", run: null, message: note };
    }
    const inc = spec.incremental!;
    // id mode: transactions that took ids below hi may not have committed yet; waiting safetyLag lets them land.
    if (inc.mode === "id" && inc.safetyLag) await deps.clock.sleep(inc.safetyLag * 1000);
    const previous = sched.lastSeq > 0 ? await schedules.getRun(name, sched.lastSeq) : null;
    let runAt = runDirValue(deps.clock.now());
    if (previous?.runAt === runAt) runAt = new Date(deps.clock.now()).toISOString().slice(0, 19).replaceAll(":", "-");
    run = await schedules.startRun(name, owner, {
      seq: sched.lastSeq + 1,
      lo,
      hi: probe.hi,
      runAt,
      sourceRows: probe.rows,
      dbNow: probe.dbNow,
      schema: [],
      columns: [],
      drift: { policy: spec.schemaDrift ?? "evolve", changes: [], action: "none", message: "not checked yet" },
    });
    deps.log?.(`schedule ${name}: run ${run.seq} started for (${run.lo ?? "start"}, ${run.hi}], ${probe.rows} rows`);
  }
  const tick: TickContext = { deps, spec, conn, info, run, last: { schema: sched.lastSchema, columns: sched.lastColumns } };
  try {
    return await attemptRun(tick);
  } catch (err) {
    const error = `attempt ${tick.run.attempt} of run ${tick.run.seq}: ${describeError(err)}`.slice(0, 2000);
    deps.log?.(`schedule ${name}: ${error}`);
    const failed = await schedules.updateRun(name, owner, tick.run.seq, { state: "FAILED", error });
    return { action: "failed", run: failed, message: error };
  }
}

/** `schedule run` without --once: a tick every incremental.every on the injected clock, until the signal aborts. */
export async function runSchedule(
  deps: SchedulerDeps,
  spec: ExportSpec,
  signal?: AbortSignal,
  onTick?: (r: TickResult) => void,
): Promise<void> {
  const every = spec.incremental!.every * 1000;
  while (!signal?.aborted) {
    const started = deps.clock.now();
    const r = await tick(deps, spec).catch((err) => ({ action: "failed" as const, run: null, message: describeError(err) }));
    onTick?.(r);
    const wait = Math.max(0, started + every - deps.clock.now());
    await deps.clock.sleep(wait, signal).catch(() => {});
  }
}
