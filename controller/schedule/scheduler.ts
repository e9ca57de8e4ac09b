import type { S3Client } from "@aws-sdk/client-s3";
import type { Connection } from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { ExportRecord } from "../../config/records.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { LeaseKeeper } from "../../lib/leases/keeper.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { resolveEnrichment } from "../../lib/mysql/enrich.ts";
import { openExportSource } from "../../lib/mysql/range-source.ts";
import { column, describeTable, type TableInfo } from "../../lib/mysql/schema.ts";
import type { Manifest } from "../../lib/output/manifest.ts";
import { exportPrefix } from "../../lib/output/sink.ts";
import { FinalizeRejected, finalizeExport, readManifest } from "../finalize/finalize.ts";
import { type LocalRunOptions, runLocalAgents } from "../local/local-run.ts";
import { planExport, toNewExport } from "../planner/plan.ts";
import type { RunRecord, ScheduleStore } from "../store/schedule-store.ts";
import { decideDrift, schemaOf } from "./drift.ts";
import { checkQuality, failing } from "./quality.ts";
import { dedupeKeyOf, removeAttempt, runSection, writeRunSidecar } from "./run-manifest.ts";
import { probeWatermark, runDirValue, runSpecOf } from "./watermark.ts";

/**
 * One tick of an incremental schedule (`spotferry schedule run`): take the schedule's lease, then either carry on
 * with the run in flight (same bounds: a failed attempt is retried as a new export under its own attempt prefix) or
 * take a new watermark and, if there are new rows, start a run. A run is a normal export of the schedule's spec with
 * the watermark range added to its filter and its columns fixed by the drift policy; locally its partitions run on
 * agent processes here and it is finalized here (quality checks decide before the manifest is written), with a
 * fleet the controller's pool runs it and finalizes it, and a later tick checks quality and commits. The watermark
 * moves only in ScheduleStore.commitRun, after the manifest is in S3.
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
  try {
    return await attempt(deps, spec, conn, info, run, sched.lastSchema, sched.lastColumns);
  } catch (err) {
    const error = `attempt ${run.attempt} of run ${run.seq}: ${describeError(err)}`.slice(0, 2000);
    deps.log?.(`schedule ${name}: ${error}`);
    const failed = await schedules.updateRun(name, owner, run.seq, { state: "FAILED", error });
    return { action: "failed", run: failed, message: error };
  }
}

const exportIdOf = (name: string, run: RunRecord) => `${name}/run=${run.runAt}${run.attempt > 1 ? `-a${run.attempt}` : ""}`;

async function attempt(
  deps: SchedulerDeps,
  spec: ExportSpec,
  conn: Connection,
  info: TableInfo,
  current: RunRecord,
  lastSchema: RunRecord["schema"] | null,
  lastColumns: string[] | null,
): Promise<TickResult> {
  const { schedules, owner, jobs } = deps;
  const name = spec.name;
  let run = current;
  let record = run.exportId ? await jobs.getExport(run.exportId) : null;
  if (record && ["FAILED", "CANCELLED"].includes(record.state)) {
    // Retry with the same bounds: a new export (new attempt prefix); the old attempt's objects are removed.
    await removeAttempt(deps.s3, spec.destination.bucket, exportPrefix(spec.destination.prefix, record.exportId));
    run = await schedules.updateRun(name, owner, run.seq, { attempt: run.attempt + 1, exportId: null, state: "RUNNING" });
    record = null;
  } else if (run.state === "FAILED" && !record) {
    run = await schedules.updateRun(name, owner, run.seq, { attempt: run.attempt + 1, state: "RUNNING" });
  }
  if (!record) {
    // Drift is measured against the last committed run before any row of this attempt is written.
    const schema = schemaOf(info);
    const wanted = (spec.source.columns ?? info.columns.map((c) => c.name)).map((c, i) => column(info, c, `source.columns[${i}]`).name);
    const drift = decideDrift(spec.schemaDrift ?? "evolve", lastSchema, lastColumns, schema, wanted);
    run = await schedules.updateRun(name, owner, run.seq, { schema, columns: drift.columns ?? [], drift: drift.report });
    if (drift.columns === null) {
      const failed = await schedules.updateRun(name, owner, run.seq, { state: "FAILED", error: drift.report.message });
      return { action: "failed", run: failed, message: drift.report.message };
    }
    const runSpec = runSpecOf(spec, run.lo, run.hi, drift.columns);
    await resolveEnrichment(conn, runSpec, info, drift.columns);
    const plan = await planExport(runSpec, { conn, clock: systemClock });
    const exportId = exportIdOf(name, run);
    record = (await jobs.createExport(toNewExport(exportId, runSpec, plan))).export;
    run = await schedules.updateRun(name, owner, run.seq, { exportId });
    deps.log?.(`schedule ${name}: run ${run.seq} attempt ${run.attempt} is export ${exportId} (${plan.partitions.length} partitions)`);
  }
  if (record.state === "SUCCEEDED") return commitFinished(deps, spec, conn, info, run, record);
  if (!deps.local)
    return {
      action: record.state === "RUNNING" ? "started" : "waiting",
      run,
      message: `export ${record.exportId} is ${record.state} on the fleet`,
    };
  return runHere(deps, spec, conn, info, run, record);
}

/** Local mode: agents on this machine, then finalize with the quality gate and the run section. */
async function runHere(
  deps: SchedulerDeps,
  spec: ExportSpec,
  conn: Connection,
  info: TableInfo,
  run: RunRecord,
  record: ExportRecord,
): Promise<TickResult> {
  const { jobs, schedules, owner } = deps;
  const local = deps.local!;
  if (record.state === "RUNNING") {
    const result = await runLocalAgents({
      ...local,
      store: jobs,
      clock: systemClock, // agents are real processes: their progress is polled in real time
      exportId: record.exportId,
      pool: record.spec.pool,
      logDir: `${local.logDir}/${spec.name}/run=${run.runAt}-a${run.attempt}`,
    });
    if (!result.done) {
      await jobs.cancelExport(record.exportId, { reason: `run ${run.seq} attempt ${run.attempt} failed` }).catch(() => {});
      throw new Error(`export ${record.exportId} did not finish: ${result.reason ?? "stopped"}`);
    }
  }
  const source = await openExportSource(record, systemClock, deps.env);
  let quality: Awaited<ReturnType<typeof checkQuality>> = [];
  try {
    const fin = await finalizeExport(
      {
        store: jobs,
        s3: deps.s3,
        clock: deps.clock,
        schema: () => source.columns(),
        log: deps.log,
        annotate: async (manifest) => {
          quality = await qualityOf(deps, spec, conn, info, run, manifest);
          const bad = failing(quality);
          if (bad.length) throw new FinalizeRejected(`data quality: ${bad.map((q) => `${q.rule} failed: ${q.message}`).join("; ")}`);
          return runSection(spec, run, dedupeKeyOf(spec, info, record.keyColumns), quality);
        },
      },
      record.exportId,
    );
    const committed = await schedules.commitRun(spec.name, owner, run.seq, {
      state: "COMMITTED",
      rows: fin.rows,
      bytes: fin.bytes,
      quality,
      manifestKey: fin.manifestKey,
    });
    return { action: "committed", run: committed, message: `run ${run.seq}: ${fin.rows} rows, watermark now ${run.hi}` };
  } catch (err) {
    if (!(err instanceof FinalizeRejected)) throw err;
    await removeAttempt(deps.s3, spec.destination.bucket, exportPrefix(spec.destination.prefix, record.exportId));
    const failed = await schedules.updateRun(spec.name, owner, run.seq, { state: "FAILED", error: err.message.slice(0, 2000), quality });
    return { action: "failed", run: failed, message: err.message };
  } finally {
    await source.close();
  }
}

/** Fleet mode (or a local tick that died after finalizing): the manifest is in S3; check quality, then commit. */
async function commitFinished(
  deps: SchedulerDeps,
  spec: ExportSpec,
  conn: Connection,
  info: TableInfo,
  run: RunRecord,
  record: ExportRecord,
): Promise<TickResult> {
  const manifest = await readManifest(deps.s3, spec.destination.bucket, record.manifestKey!);
  let quality = (manifest.run?.quality as RunRecord["quality"] | undefined) ?? null;
  if (!quality) {
    quality = await qualityOf(deps, spec, conn, info, run, manifest);
    const bad = failing(quality);
    if (bad.length) {
      // The controller already committed the manifest: the attempt is withdrawn (marker first) and retried.
      const error = `data quality: ${bad.map((q) => `${q.rule} failed: ${q.message}`).join("; ")}`;
      await withdrawAttempt(deps, record, error);
      const failed = await deps.schedules.updateRun(spec.name, deps.owner, run.seq, { state: "FAILED", error, quality, exportId: null });
      return { action: "failed", run: failed, message: error };
    }
    await writeRunSidecar(
      deps.s3,
      spec.destination.bucket,
      manifest.prefix,
      runSection(spec, run, dedupeKeyOf(spec, info, record.keyColumns), quality),
    );
  }
  const committed = await deps.schedules.commitRun(spec.name, deps.owner, run.seq, {
    state: "COMMITTED",
    rows: manifest.totals.rows,
    bytes: manifest.totals.bytes,
    quality,
    manifestKey: record.manifestKey!,
  });
  return { action: "committed", run: committed, message: `run ${run.seq}: ${manifest.totals.rows} rows, watermark now ${run.hi}` };
}

/** Withdraws a committed-but-rejected attempt: its objects go, and the next tick starts attempt + 1. */
async function withdrawAttempt(deps: SchedulerDeps, record: ExportRecord, error: string): Promise<void> {
  await removeAttempt(deps.s3, record.spec.destination.bucket, exportPrefix(record.spec.destination.prefix, record.exportId));
  deps.log?.(`schedule: export ${record.exportId} withdrawn: ${error}`);
}

function qualityOf(deps: SchedulerDeps, spec: ExportSpec, conn: Connection, info: TableInfo, run: RunRecord, manifest: Manifest) {
  const inc = spec.incremental!;
  const runSpec = runSpecOf(spec, run.lo, run.hi, run.columns);
  return checkQuality(spec.quality ?? [], {
    conn,
    s3: deps.s3,
    info,
    spec: runSpec,
    manifest,
    ...(inc.mode === "updated-at" ? { updatedAt: { column: inc.column, dbNow: run.dbNow } } : {}),
  });
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
