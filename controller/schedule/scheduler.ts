import type { S3Client } from "@aws-sdk/client-s3";
import type { Connection } from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { Clock } from "../../lib/clock.ts";
import { describeError, ExitCode, UserError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { LeaseKeeper } from "../../lib/leases/keeper.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { describeTable } from "../../lib/mysql/schema.ts";
import type { LocalRunOptions } from "../local/local-run.ts";
import { ago } from "../oncall/format.ts";
import type { RunRecord, ScheduleStore } from "../store/schedule-store.ts";
import { attemptRun, type TickContext } from "./run-attempt.ts";
import { nextRunDir } from "./run-dir.ts";
import { probeWatermark } from "./watermark.ts";

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
  /** busy: who holds the schedule's lock and when it runs out (ms, by the holder's clock; null if just released). */
  holder?: { owner: string | null; until: number | null };
  /** failed: the exit code `schedule run --once` ends with (see tickExitCode). */
  exitCode?: number;
}

const DEFAULT_LEASE_MS = 10 * 60_000;

/**
 * The exit code of a `--once` tick: 0 when it did its part (including nothing to do); 4 when the lock is busy or the
 * run failed (its checks or its partitions); a failure before any run, e.g. the source unreachable, exits with its
 * own code (3 for a service that cannot be reached, 1 for the unexpected).
 */
export function tickExitCode(r: TickResult): number {
  if (r.action === "busy") return ExitCode.checkFailed;
  if (r.action === "failed") return r.exitCode ?? ExitCode.checkFailed;
  return ExitCode.ok;
}

export async function tick(deps: SchedulerDeps, spec: ExportSpec): Promise<TickResult> {
  const { schedules, owner } = deps;
  const name = spec.name;
  if (!spec.incremental) throw new Error(`export ${name} has no incremental block; schedules need one`);
  const leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
  await schedules.ensureSchedule(name);
  if (!(await acquire(deps, name, leaseMs))) return busy(deps, name);
  // From here on every path, failures included, ends in the finally: renewals stopped, connection closed, lock
  // released, so the next tick (ours or cron's) finds the schedule free instead of busy until the lease runs out.
  let keeper: LeaseKeeper | null = null;
  let conn: Connection | null = null;
  try {
    // Keep the lease while a long local run goes on (never while the process is gone: it then expires). Every write of
    // the tick is conditioned on holding it, so a lost lease fails the tick's next write instead of racing a successor.
    keeper = new LeaseKeeper({
      what: `the lease of schedule ${name}`,
      clock: deps.clock,
      leaseMs,
      skewMs: Math.floor(leaseMs / 10),
      renew: () => schedules.acquireLease(name, owner, leaseMs),
      onLost: (reason) => deps.log?.(`${reason.message}; this tick's next write will be refused`),
      onError: (err) => deps.log?.(`renewing the lease of schedule ${name} failed (will retry): ${describeError(err)}`),
    }).start();
    conn = await openSource(spec.source, deps.env);
    return await tickHeld(deps, spec, conn);
  } catch (err) {
    const message = describeError(err).slice(0, 2000);
    deps.log?.(`schedule ${name}: tick failed: ${message}`);
    return { action: "failed", run: null, message, exitCode: err instanceof UserError ? err.exitCode : ExitCode.failure };
  } finally {
    await keeper?.stop();
    await conn?.end().catch(() => {});
    await release(deps, name);
  }
}

/** Takes the lock; when the store fails to answer, the write may still have landed, so it is released before the throw. */
async function acquire(deps: SchedulerDeps, name: string, leaseMs: number): Promise<boolean> {
  try {
    return await deps.schedules.acquireLease(name, deps.owner, leaseMs);
  } catch (err) {
    await deps.schedules.releaseLease(name, deps.owner).catch(() => {});
    throw err;
  }
}

async function release(deps: SchedulerDeps, name: string): Promise<void> {
  try {
    await deps.schedules.releaseLease(name, deps.owner);
  } catch (err) {
    // Not fatal: the lease runs out by itself, and this owner's next tick takes it back at once.
    deps.log?.(`releasing the lease of schedule ${name} failed; it stays ours until it runs out: ${describeError(err)}`);
  }
}

/** Someone else holds the lock: who, and when it runs out (relative on our clock, and in UTC). */
async function busy(deps: SchedulerDeps, name: string): Promise<TickResult> {
  const s = await deps.schedules.getSchedule(name);
  const holder = { owner: s?.leaseOwner ?? null, until: s?.leaseUntil ?? null };
  let until = "its lock was released a moment ago; tick again";
  if (holder.until !== null) {
    const at = new Date(holder.until).toISOString();
    // ago() reads "in 9m58s" for a future instant and "3s ago" for a past one (a lock that ran out as we looked).
    until = `its lock ${holder.until >= deps.clock.now() ? "expires" : "expired"} ${ago(at, deps.clock.now())} (${at})`;
  }
  return { action: "busy", run: null, holder, message: `schedule ${name} is being ticked by ${holder.owner ?? "someone else"}; ${until}` };
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
    // Later than the previous run's name even within the same second, so run directories list in run order.
    const runAt = nextRunDir(deps.clock.now(), previous?.runAt ?? null);
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
