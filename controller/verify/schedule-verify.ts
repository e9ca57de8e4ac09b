import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Connection } from "mysql2/promise";
import type { KeyColumn } from "../../config/records.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { queryText } from "../../lib/mysql/connect.ts";
import { and, quoteIdent, selectExpr } from "../../lib/mysql/key-sql.ts";
import { column, describeTable, filterSql, keyColumnOf, type TableInfo } from "../../lib/mysql/schema.ts";
import type { Manifest } from "../../lib/output/manifest.ts";
import { KEY_SEPARATOR, ObjectKeyReader } from "../../lib/output/object-keys.ts";
import { readManifest } from "../finalize/finalize.ts";
import type { RunRecord, ScheduleStore } from "../store/schedule-store.ts";

/**
 * `spotferry schedule verify NAME`: proves that a schedule's output, read the way its manifests tell readers to
 * (controller/schedule/run-manifest.ts: union of the committed runs, per dedupeKey the row of the highest seq), equals
 * the source table up to the committed watermark.
 *
 * S3 side: every committed run's manifest in run order, every object read back (SHA-256 checked; Parquet through
 * DuckDB, like `export verify`), keeping per key the version (the versionColumn's text) of the newest run. Source
 * side: the rows within the spec's filter whose watermark column is in (startAfter, watermark]. Both sides give a
 * row count and an order-independent checksum, the sum of CRC32 of "key US version" per row, so a missing row, a
 * duplicate, a stale version or a foreign key all show. Rows changed since the last committed run (watermark column
 * past the watermark) are waiting for the next run: they are left out on both sides and counted as `pending`.
 * Rows DELETED in the source are out of scope: neither mode captures deletes, so they stay in the output and show up
 * here as extra rows in S3.
 */
export interface ScheduleVerifyReport {
  schedule: string;
  runs: number;
  watermark: string | null;
  objects: number;
  /** Row versions read from S3 (every run), before keeping the newest per key. */
  versionsRead: number;
  s3: { rows: number; checksum: string };
  source: { rows: number; checksum: string };
  /** Keys changed in the source since the last committed run (left out of both sides). */
  pending: number;
  problems: string[];
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

const MAX_RUNS = 100_000;

export async function verifySchedule(deps: ScheduleVerifyDeps, name: string): Promise<ScheduleVerifyReport> {
  const schedule = await deps.schedules.getSchedule(name);
  if (!schedule) throw new Error(`schedule ${name} not found`);
  const runs = (await deps.schedules.listRuns(name, { limit: MAX_RUNS })).filter((r) => r.state === "COMMITTED").reverse();
  const report: ScheduleVerifyReport = {
    schedule: name,
    runs: runs.length,
    watermark: schedule.watermark,
    objects: 0,
    versionsRead: 0,
    s3: { rows: 0, checksum: "0" },
    source: { rows: 0, checksum: "0" },
    pending: 0,
    problems: [],
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
  try {
    const info = await describeTable(conn, last.spec.source.database, last.spec.source.table);
    const scope = scopeOf(info, last, runs[0]?.lo ?? null, schedule.watermark);
    const latest = await readOutput(deps, manifests, runs, scope, report);
    // Keys whose source row moved past the watermark: their newer version is for the next run.
    for (const [k] of await queryText(conn, {
      sql: `SELECT ${scope.keyText} FROM ${scope.table} WHERE ${scope.pending.sql}`,
      params: scope.pending.params,
    })) {
      report.pending++;
      latest.delete(k as string);
    }
    let sum = 0n;
    for (const [k, v] of latest) sum += BigInt(crc32(Buffer.from(v === null ? k : `${k}${KEY_SEPARATOR}${v}`, "utf8")));
    report.s3 = { rows: latest.size, checksum: sum.toString() };
    const rowText = scope.versionText ? `CONCAT_WS(CHAR(31), ${scope.keyText}, ${scope.versionText})` : scope.keyText;
    const [[n, s]] = (await queryText(conn, {
      sql: `SELECT COUNT(*), COALESCE(SUM(CRC32(${rowText})), 0) FROM ${scope.table} WHERE ${scope.inScope.sql}`,
      params: scope.inScope.params,
    })) as [[string, string]];
    report.source = { rows: Number(n), checksum: String(s) };
  } finally {
    await conn.end().catch(() => {});
  }
  const { s3, source } = report;
  if (s3.rows !== source.rows) report.problems.push(`${source.rows} rows in the source, ${s3.rows} in the output (newest version per key)`);
  else if (s3.checksum !== source.checksum) report.problems.push("same row count but different keys or versions (checksum mismatch)");
  report.ok = report.problems.length === 0;
  return report;
}

/** Runs record their manifest's key, not its bucket: that is in the spec of the run's export. */
async function bucketOf(deps: ScheduleVerifyDeps, r: RunRecord): Promise<string> {
  const record = r.exportId ? await deps.jobs.getExport(r.exportId) : null;
  if (!record) throw new Error(`run ${r.seq}: its export ${r.exportId ?? "(none)"} is not in the state table, so its bucket is unknown`);
  return record.spec.destination.bucket;
}

const MAX_PROBLEMS = 50;
function problem(report: ScheduleVerifyReport, text: string): void {
  if (report.problems.length < MAX_PROBLEMS) report.problems.push(text);
  else if (report.problems.length === MAX_PROBLEMS) report.problems.push("... more problems not listed");
}

interface Scope {
  table: string;
  keyColumns: KeyColumn[];
  version: KeyColumn | null;
  keyText: string;
  versionText: string | null;
  /** Rows the output should hold: the spec's filter and (startAfter, watermark] on the watermark column. */
  inScope: { sql: string; params: (string | number | boolean | null)[] };
  /** Rows changed since the last committed run. */
  pending: { sql: string; params: (string | number | boolean | null)[] };
}

function scopeOf(info: TableInfo, m: Manifest, startAfter: string | null, watermark: string): Scope {
  const run = (m.run ?? {}) as { dedupeKey?: string[]; versionColumn?: string | null; watermarkColumn?: string };
  const inc = m.spec.incremental;
  if (!inc || !run.dedupeKey) throw new Error(`${m.exportId}'s manifest has no run section: not a schedule's run`);
  const asKey = (name: string, where: string) => {
    const k = keyColumnOf(column(info, name, where));
    if (typeof k === "string") throw new Error(`${where}: ${k}`);
    return k;
  };
  const keyColumns = run.dedupeKey.map((c, i) => asKey(c, `dedupeKey[${i}]`));
  const version = run.versionColumn ? asKey(run.versionColumn, "versionColumn") : null;
  const wm = asKey(inc.column, "incremental.column");
  const text = (c: KeyColumn) => (c.type === "binary" ? selectExpr(c) : `CAST(${quoteIdent(c.name)} AS CHAR)`);
  const keyParts = keyColumns.map(text);
  // The run's filter is the spec's filter plus the run's range (rangeFilter appends one or two predicates).
  const filter = m.spec.source.filter ?? [];
  const ranged = (m.run as { watermark?: { after: string | null } }).watermark?.after === null ? 1 : 2;
  const user = filterSql(info, filter.slice(0, Math.max(0, filter.length - ranged)));
  const range = filterSql(info, [
    ...(startAfter === null ? [] : [{ column: wm.name, op: ">" as const, value: startAfter }]),
    { column: wm.name, op: "<=" as const, value: watermark },
  ]);
  const after = filterSql(info, [{ column: wm.name, op: ">" as const, value: watermark }]);
  return {
    table: `${quoteIdent(info.database)}.${quoteIdent(info.table)}`,
    keyColumns,
    version,
    keyText: keyParts.length === 1 ? (keyParts[0] as string) : `CONCAT_WS(CHAR(31), ${keyParts.join(", ")})`,
    versionText: version ? text(version) : null,
    inScope: and(user, range),
    pending: and(user, after),
  };
}

/** The output as readers see it: per key, the version of the newest committed run (null without a version column). */
async function readOutput(
  deps: ScheduleVerifyDeps,
  manifests: Manifest[],
  runs: RunRecord[],
  scope: Scope,
  report: ScheduleVerifyReport,
): Promise<Map<string, string | null>> {
  const latest = new Map<string, string | null>();
  const reader = new ObjectKeyReader(scope.keyColumns, scope.version ? [scope.version] : []);
  try {
    for (const [i, m] of manifests.entries()) {
      const run = runs[i] as RunRecord;
      const seen = new Set<string>();
      let rows = 0;
      const names = m.schema.map((c) => c.name);
      for (const p of m.partitions) {
        for (const c of p.chunks) {
          let body: Buffer;
          try {
            const res = await deps.s3.send(new GetObjectCommand({ Bucket: m.bucket, Key: c.key }));
            body = Buffer.from(await res.Body!.transformToByteArray());
          } catch (cause) {
            problem(report, `run ${run.seq}: object ${c.key} cannot be read: ${(cause as Error).name}`);
            continue;
          }
          report.objects++;
          if (createHash("sha256").update(body).digest("hex") !== c.sha256)
            problem(report, `run ${run.seq}: object ${c.key} does not match its SHA-256`);
          const got = await reader.rows(m.spec.destination.format, body, names);
          if (got.length !== c.rows)
            problem(report, `run ${run.seq}: object ${c.key} holds ${got.length} rows, the manifest says ${c.rows}`);
          for (const [k, v] of got) {
            if (seen.has(k as string)) problem(report, `run ${run.seq}: key ${k} appears twice within the run`);
            seen.add(k as string);
            latest.set(k as string, v ?? null);
          }
          rows += got.length;
        }
      }
      report.versionsRead += rows;
      if (rows !== run.rows) problem(report, `run ${run.seq}: ${rows} rows in its objects, the run record says ${run.rows}`);
      deps.onRun?.(run, rows);
    }
  } finally {
    reader.close();
  }
  return latest;
}
