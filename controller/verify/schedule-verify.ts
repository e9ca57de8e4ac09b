import type { S3Client } from "@aws-sdk/client-s3";
import type { Connection } from "mysql2/promise";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import type { ColumnSpec } from "../../lib/output/encode/index.ts";
import type { Manifest } from "../../lib/output/manifest.ts";
import { readManifest } from "../finalize/finalize.ts";
import type { RunRecord, ScheduleStore } from "../store/schedule-store.ts";
import { diffKeys, type KeyDiff, sameFigure } from "./key-diff.ts";
import { ObjectDigest, objectRelation, objectSide } from "./object-digest.ts";
import { loadPending, type Scope, scopeOf } from "./schedule-scope.ts";
import { sourceRelation, sourceSide, sourceTotal } from "./source-digest.ts";

/**
 * `spotferry schedule verify NAME`: proves that a schedule's output, read the way its manifests tell readers to
 * (controller/schedule/run-manifest.ts: union of the committed runs, per dedupeKey the row of the highest seq), equals
 * the source table up to the committed watermark, column by column.
 *
 * S3 side: every committed run's objects (SHA-256 checked), read by DuckDB into (run, key, row hash) and reduced to
 * the newest run's hash per key, inside DuckDB (memory-limited, spilling to disk). Source side: the rows within the
 * spec's filter whose watermark column is in (startAfter, watermark], hashed by the same canonical text
 * (canonical.ts). Rows changed since the last committed run are waiting for the next one: they are left out on both
 * sides and counted as `pending`. A difference names the keys (key-diff.ts: 256 hash buckets a level, descending only
 * into the differing ones), so no side ever holds every key in this process. The compared columns are those of every
 * committed run's schema (a column added later is not in the older runs' rows); `keysOnly` compares key and version.
 * Rows DELETED in the source are out of scope: neither mode captures deletes, so they stay in the output and show up
 * here as keys "not in the source".
 */
export interface ScheduleVerifyReport {
  schedule: string;
  mode: "content" | "keys";
  runs: number;
  watermark: string | null;
  objects: number;
  /** Row versions read from S3 (every run), before keeping the newest per key. */
  versionsRead: number;
  s3: { rows: number; checksum: string };
  source: { rows: number; checksum: string };
  /** Keys changed in the source since the last committed run (left out of both sides). */
  pending: number;
  /** The columns compared. */
  columns: string[];
  problems: string[];
  /** The differing keys (up to the limit asked for; by default 20). */
  keys: KeyDiff[];
  ok: boolean;
}

export interface ScheduleVerifyDeps {
  s3: S3Client;
  schedules: ScheduleStore;
  /** Only to find the output's bucket (from the newest run's export record). */
  jobs: Pick<JobStore, "getExport">;
  /** Opens the source named by the newest manifest's spec. */
  connect: (source: Manifest["spec"]["source"]) => Promise<Connection>;
  onRun?: (run: RunRecord, rows: number) => void;
}

export interface ScheduleVerifyOptions {
  keysOnly?: boolean;
  /** Name up to this many differing keys (default 20). */
  rows?: number;
}

const MAX_RUNS = 100_000;
const MAX_PROBLEMS = 50;

export async function verifySchedule(
  deps: ScheduleVerifyDeps,
  name: string,
  opts: ScheduleVerifyOptions = {},
): Promise<ScheduleVerifyReport> {
  const schedule = await deps.schedules.getSchedule(name);
  if (!schedule) throw new Error(`schedule ${name} not found`);
  const runs = (await deps.schedules.listRuns(name, { limit: MAX_RUNS })).filter((r) => r.state === "COMMITTED").reverse();
  const report: ScheduleVerifyReport = {
    schedule: name,
    mode: opts.keysOnly ? "keys" : "content",
    runs: runs.length,
    watermark: schedule.watermark,
    objects: 0,
    versionsRead: 0,
    s3: { rows: 0, checksum: "0" },
    source: { rows: 0, checksum: "0" },
    pending: 0,
    columns: [],
    problems: [],
    keys: [],
    ok: false,
  };
  const newest = runs.at(-1);
  if (!newest || schedule.watermark === null) {
    report.problems.push("no committed run yet: nothing to verify");
    return report;
  }
  if (newest.hi !== schedule.watermark)
    report.problems.push(`the schedule's watermark ${schedule.watermark} is not its newest committed run's upper bound ${newest.hi}`);
  const manifests: Manifest[] = [];
  for (const r of runs) {
    if (!r.manifestKey) throw new Error(`run ${r.seq} of schedule ${name} is COMMITTED without a manifest key`);
    const bucket = manifests[0]?.bucket ?? (await bucketOf(deps, newest));
    manifests.push(await readManifest(deps.s3, bucket, r.manifestKey));
  }
  const last = manifests.at(-1) as Manifest;
  const conn = await deps.connect(last.spec.source);
  const digest = new ObjectDigest();
  try {
    const scope = await scopeOf(conn, last, runs[0]?.lo ?? null, schedule.watermark);
    const columns = comparedColumns(manifests, scope, opts.keysOnly === true);
    report.columns = columns.map((c) => c.name);
    await readOutput({ deps, digest, manifests, runs, scope, columns, report });
    report.pending = await loadPending(conn, digest, scope);
    const output = `SELECT k, h FROM latest l WHERE NOT EXISTS (SELECT 1 FROM pending p WHERE p.k = l.k)`;
    const [[n, s]] = (await digest.query(`SELECT count(*), COALESCE(sum(h), 0) FROM (${output})`)) as [[bigint, bigint]];
    const s3 = { rows: Number(n), sum: BigInt(String(s)) };
    const rel = await sourceRelation({ conn, info: scope.info, spec: last.spec, columns, keyNames: scope.keyNames, where: scope.inScope });
    const source = await sourceTotal(rel);
    report.s3 = { rows: s3.rows, checksum: s3.sum.toString() };
    report.source = { rows: source.rows, checksum: source.sum.toString() };
    if (s3.rows !== source.rows)
      report.problems.push(`${source.rows} rows in the source, ${s3.rows} in the output (newest version per key)`);
    else if (!sameFigure(s3, source)) report.problems.push("same row count but different keys or content (checksum mismatch)");
    if (!sameFigure(s3, source))
      report.keys = await diffKeys(sourceSide(rel), objectSide(digest, output), { source, output: s3 }, { limit: opts.rows ?? 20 });
  } finally {
    digest.close();
    await conn.end().catch(() => {});
  }
  report.ok = report.problems.length === 0;
  return report;
}

/** Runs record their manifest's key, not its bucket: that is in the spec of the run's export. */
async function bucketOf(deps: ScheduleVerifyDeps, r: RunRecord): Promise<string> {
  const record = r.exportId ? await deps.jobs.getExport(r.exportId) : null;
  if (!record) throw new Error(`run ${r.seq}: its export ${r.exportId ?? "(none)"} is not in the state table, so its bucket is unknown`);
  return record.spec.destination.bucket;
}

function problem(report: ScheduleVerifyReport, text: string): void {
  if (report.problems.length < MAX_PROBLEMS) report.problems.push(text);
  else if (report.problems.length === MAX_PROBLEMS) report.problems.push("... more problems not listed");
}

/** Columns every committed run wrote with the same type (the newest run's spec of each), key columns first. */
function comparedColumns(manifests: Manifest[], scope: Scope, keysOnly: boolean): ColumnSpec[] {
  const last = (manifests.at(-1) as Manifest).schema;
  const same = (a: ColumnSpec, b: ColumnSpec) => a.kind === b.kind && a.scale === b.scale && a.fsp === b.fsp;
  const wanted = keysOnly ? [...scope.keyNames, ...(scope.versionName ? [scope.versionName] : [])] : last.map((c) => c.name);
  return wanted.flatMap((n) => {
    const c = last.find((x) => x.name === n);
    if (!c) throw new Error(`the newest run's schema has no column ${n}`);
    return manifests.every((m) => m.schema.some((x) => x.name === n && same(x, c))) ? [c] : [];
  });
}

interface ReadInput {
  deps: ScheduleVerifyDeps;
  digest: ObjectDigest;
  manifests: Manifest[];
  runs: RunRecord[];
  scope: Scope;
  columns: ColumnSpec[];
  report: ScheduleVerifyReport;
}

/** Every run's rows into DuckDB as (seq, key, hash), then `latest`: per key the hash of the highest seq. */
async function readOutput(o: ReadInput): Promise<void> {
  const { digest, report } = o;
  await digest.query("CREATE TABLE versions (seq BIGINT, k VARCHAR, h UBIGINT)");
  for (const [i, m] of o.manifests.entries()) {
    const run = o.runs[i] as RunRecord;
    let rows = 0;
    for (const p of m.partitions) {
      const fetched = await digest.fetch(o.deps.s3, m.bucket, p.chunks, m.spec.destination.format);
      try {
        for (const text of fetched.problems) problem(report, `run ${run.seq}: ${text}`);
        report.objects += fetched.files.length;
        if (fetched.files.length === 0) continue;
        const rel = objectRelation({
          format: m.spec.destination.format,
          paths: fetched.files.map((f) => f.path),
          schema: m.schema,
          columns: o.columns,
          keyNames: o.scope.keyNames,
        });
        await digest.query(`CREATE OR REPLACE TEMP TABLE part AS ${rel}`);
        const counts = new Map((await digest.query("SELECT f, count(*) FROM part GROUP BY f")).map(([f, n]) => [String(f), Number(n)]));
        for (const f of fetched.files) {
          const got = counts.get(f.path) ?? 0;
          if (got !== f.chunk.rows)
            problem(report, `run ${run.seq}: object ${f.chunk.key} holds ${got} rows, the manifest says ${f.chunk.rows}`);
          rows += got;
        }
        await digest.query(`INSERT INTO versions SELECT ${run.seq}, k, h FROM part`);
      } finally {
        digest.release(fetched);
      }
    }
    for (const [k] of await digest.query(`SELECT k FROM versions WHERE seq = ${run.seq} GROUP BY k HAVING count(*) > 1 LIMIT 10`))
      problem(report, `run ${run.seq}: key ${String(k)} appears twice within the run`);
    report.versionsRead += rows;
    if (rows !== run.rows) problem(report, `run ${run.seq}: ${rows} rows in its objects, the run record says ${run.rows}`);
    o.deps.onRun?.(run, rows);
  }
  await digest.query("CREATE TABLE latest AS SELECT k, arg_max(h, seq) AS h FROM versions GROUP BY k");
  await digest.query("DROP TABLE versions");
}
