import type { Connection } from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { ExportRecord } from "../../config/records.ts";
import { systemClock } from "../../lib/clock.ts";
import { resolveEnrichment } from "../../lib/mysql/enrich.ts";
import { openExportSource } from "../../lib/mysql/range-source.ts";
import { column, type TableInfo } from "../../lib/mysql/schema.ts";
import type { Manifest } from "../../lib/output/manifest.ts";
import { exportPrefix } from "../../lib/output/sink.ts";
import { FinalizeRejected, finalizeExport, readManifest } from "../finalize/finalize.ts";
import { runLocalAgents } from "../local/local-run.ts";
import { planExport, toNewExport } from "../planner/plan.ts";
import type { RunRecord } from "../store/schedule-store.ts";
import { decideDrift, schemaOf } from "./drift.ts";
import { checkQuality, failing } from "./quality.ts";
import { dedupeKeyOf, removeAttempt, runSection, writeRunSidecar } from "./run-manifest.ts";
import type { SchedulerDeps, TickResult } from "./scheduler.ts";
import { runSpecOf } from "./watermark.ts";

/**
 * One tick's view of the run it works on, passed whole instead of six positional parameters. `run` is replaced as the
 * run record moves on (every update returns the new record).
 */
export interface TickContext {
  deps: SchedulerDeps;
  spec: ExportSpec;
  conn: Connection;
  info: TableInfo;
  run: RunRecord;
  /** The schema and columns of the last committed run: what drift is measured against. */
  last: { schema: RunRecord["schema"] | null; columns: string[] | null };
}

const exportIdOf = (name: string, run: RunRecord) => `${name}/run=${run.runAt}${run.attempt > 1 ? `-a${run.attempt}` : ""}`;

/**
 * Carries the run in flight one step further: a new attempt for a failed export, the attempt's export (drift decided
 * before any row is written), its partitions run here in local mode, and once every partition is done, the finalize
 * with the quality gate, then the watermark commit. With a fleet the controller runs the partitions but leaves the
 * finalize to the schedule (it skips exports with an incremental block), so in both modes the quality rules decide
 * before the manifest and its success marker are written.
 */
export async function attemptRun(tick: TickContext): Promise<TickResult> {
  const record = await currentExport(tick);
  if (!record) return failRun(tick, tick.run.drift.message);
  if (record.state === "SUCCEEDED") return commitFinished(tick, record);
  if (tick.deps.local && record.state === "RUNNING") await runLocally(tick, record);
  else if (!(await allDone(tick, record))) {
    return {
      action: record.state === "RUNNING" ? "started" : "waiting",
      run: tick.run,
      message: `export ${record.exportId} is ${record.state} on the fleet`,
    };
  }
  return finalizeRun(tick, record);
}

/** The attempt's export: the one recorded on the run, or a new one (new attempt after a failure); null when drift refuses. */
async function currentExport(tick: TickContext): Promise<ExportRecord | null> {
  const { deps, spec } = tick;
  const { schedules, owner, jobs } = deps;
  let record = tick.run.exportId ? await jobs.getExport(tick.run.exportId) : null;
  if (record && ["FAILED", "CANCELLED"].includes(record.state)) {
    // Retry with the same bounds: a new export (new attempt prefix); the old attempt's objects are removed.
    await removeAttempt(deps.s3, spec.destination.bucket, exportPrefix(spec.destination.prefix, record.exportId));
    tick.run = await schedules.updateRun(spec.name, owner, tick.run.seq, {
      attempt: tick.run.attempt + 1,
      exportId: null,
      state: "RUNNING",
    });
    record = null;
  } else if (tick.run.state === "FAILED" && !record) {
    tick.run = await schedules.updateRun(spec.name, owner, tick.run.seq, { attempt: tick.run.attempt + 1, state: "RUNNING" });
  }
  return record ?? (await createAttempt(tick));
}

async function createAttempt(tick: TickContext): Promise<ExportRecord | null> {
  const { deps, spec, conn, info } = tick;
  const { schedules, owner, jobs } = deps;
  // Drift is measured against the last committed run before any row of this attempt is written.
  const schema = schemaOf(info);
  const wanted = (spec.source.columns ?? info.columns.map((c) => c.name)).map((c, i) => column(info, c, `source.columns[${i}]`).name);
  const drift = decideDrift(spec.schemaDrift ?? "evolve", tick.last.schema, tick.last.columns, schema, wanted);
  tick.run = await schedules.updateRun(spec.name, owner, tick.run.seq, { schema, columns: drift.columns ?? [], drift: drift.report });
  if (drift.columns === null) return null;
  const runSpec = runSpecOf(spec, tick.run.lo, tick.run.hi, drift.columns);
  await resolveEnrichment(conn, runSpec, info, drift.columns);
  const plan = await planExport(runSpec, { conn, clock: systemClock });
  const exportId = exportIdOf(spec.name, tick.run);
  const record = (await jobs.createExport(toNewExport(exportId, runSpec, plan))).export;
  tick.run = await schedules.updateRun(spec.name, owner, tick.run.seq, { exportId });
  deps.log?.(
    `schedule ${spec.name}: run ${tick.run.seq} attempt ${tick.run.attempt} is export ${exportId} (${plan.partitions.length} partitions)`,
  );
  return record;
}

async function failRun(tick: TickContext, error: string): Promise<TickResult> {
  const failed = await tick.deps.schedules.updateRun(tick.spec.name, tick.deps.owner, tick.run.seq, { state: "FAILED", error });
  return { action: "failed", run: failed, message: error };
}

async function allDone(tick: TickContext, record: ExportRecord): Promise<boolean> {
  if (record.state === "FINALIZING") return true;
  if (record.state !== "RUNNING") return false;
  const p = await tick.deps.jobs.progress(record.exportId);
  return p.total.partitions > 0 && p.byState.DONE.partitions === p.total.partitions;
}

/** Local mode: this machine's agents run the attempt's partitions. */
async function runLocally(tick: TickContext, record: ExportRecord): Promise<void> {
  const { deps, spec, run } = tick;
  const local = deps.local!;
  const result = await runLocalAgents({
    ...local,
    store: deps.jobs,
    clock: systemClock, // agents are real processes: their progress is polled in real time
    exportId: record.exportId,
    pool: record.spec.pool,
    logDir: `${local.logDir}/${spec.name}/run=${run.runAt}-a${run.attempt}`,
  });
  if (!result.done) {
    await deps.jobs.cancelExport(record.exportId, { reason: `run ${run.seq} attempt ${run.attempt} failed` }).catch(() => {});
    throw new Error(`export ${record.exportId} did not finish: ${result.reason ?? "stopped"}`);
  }
}

/** Finalizes the attempt with the quality gate and the run section in the manifest, then moves the watermark. */
async function finalizeRun(tick: TickContext, record: ExportRecord): Promise<TickResult> {
  const { deps, spec, run } = tick;
  const source = await openExportSource(record, systemClock, deps.env);
  let quality: RunRecord["quality"] = [];
  try {
    const fin = await finalizeExport(
      {
        store: deps.jobs,
        s3: deps.s3,
        clock: deps.clock,
        schema: () => source.columns(),
        log: deps.log,
        annotate: async (manifest) => {
          quality = await qualityOf(tick, manifest);
          const bad = failing(quality);
          if (bad.length) throw new FinalizeRejected(`data quality: ${bad.map((q) => `${q.rule} failed: ${q.message}`).join("; ")}`);
          return runSection(spec, run, dedupeKeyOf(spec, tick.info, record.keyColumns), quality);
        },
      },
      record.exportId,
    );
    return commit(tick, { rows: fin.rows, bytes: fin.bytes, quality, manifestKey: fin.manifestKey });
  } catch (err) {
    if (!(err instanceof FinalizeRejected)) throw err;
    await removeAttempt(deps.s3, spec.destination.bucket, exportPrefix(spec.destination.prefix, record.exportId));
    const failed = await deps.schedules.updateRun(spec.name, deps.owner, run.seq, {
      state: "FAILED",
      error: err.message.slice(0, 2000),
      quality,
    });
    return { action: "failed", run: failed, message: err.message };
  } finally {
    await source.close();
  }
}

/**
 * An attempt already SUCCEEDED: a tick that died between finalize and commit, or an export finalized by a controller
 * of an earlier release (which did not leave schedule runs to their schedule). Its manifest is in S3; quality is
 * checked now if the manifest has none, and a failing attempt is withdrawn (objects first) and retried.
 */
async function commitFinished(tick: TickContext, record: ExportRecord): Promise<TickResult> {
  const { deps, spec, run } = tick;
  const manifest = await readManifest(deps.s3, spec.destination.bucket, record.manifestKey!);
  let quality = (manifest.run?.quality as RunRecord["quality"] | undefined) ?? null;
  if (!quality) {
    quality = await qualityOf(tick, manifest);
    const bad = failing(quality);
    if (bad.length) {
      const error = `data quality: ${bad.map((q) => `${q.rule} failed: ${q.message}`).join("; ")}`;
      await removeAttempt(deps.s3, record.spec.destination.bucket, exportPrefix(record.spec.destination.prefix, record.exportId));
      deps.log?.(`schedule: export ${record.exportId} withdrawn: ${error}`);
      const failed = await deps.schedules.updateRun(spec.name, deps.owner, run.seq, { state: "FAILED", error, quality, exportId: null });
      return { action: "failed", run: failed, message: error };
    }
    const section = runSection(spec, run, dedupeKeyOf(spec, tick.info, record.keyColumns), quality);
    await writeRunSidecar(deps.s3, spec.destination.bucket, manifest.prefix, section, spec.destination.sse);
  }
  return commit(tick, { rows: manifest.totals.rows, bytes: manifest.totals.bytes, quality, manifestKey: record.manifestKey! });
}

async function commit(
  tick: TickContext,
  result: { rows: number; bytes: number; quality: RunRecord["quality"]; manifestKey: string },
): Promise<TickResult> {
  const { deps, spec, run } = tick;
  const committed = await deps.schedules.commitRun(spec.name, deps.owner, run.seq, { state: "COMMITTED", ...result });
  return { action: "committed", run: committed, message: `run ${run.seq}: ${result.rows} rows, watermark now ${run.hi}` };
}

function qualityOf(tick: TickContext, manifest: Manifest) {
  const { spec, run, conn, info, deps } = tick;
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
