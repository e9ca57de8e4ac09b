import type { Connection } from "mysql2/promise";
import { and, type Fragment } from "../../lib/mysql/key-sql.ts";
import { column, describeTable, filterSql, type TableInfo } from "../../lib/mysql/schema.ts";
import type { Manifest } from "../../lib/output/manifest.ts";
import { keyText, quoteMaria, sourceText } from "./canonical.ts";
import type { ObjectDigest } from "./object-digest.ts";

/** What `schedule verify` compares on the source: the rows up to the watermark, and those changed since. */
export interface Scope {
  info: TableInfo;
  keyNames: string[];
  versionName: string | null;
  /** Rows the output should hold: the spec's filter and (startAfter, watermark] on the watermark column. */
  inScope: Fragment;
  /** Rows changed since the last committed run. */
  pending: Fragment;
  /** The key's canonical text over the driving table (for the pending keys). */
  keyText: string;
}

export async function scopeOf(conn: Connection, m: Manifest, startAfter: string | null, watermark: string): Promise<Scope> {
  const info = await describeTable(conn, m.spec.source.database, m.spec.source.table);
  const run = (m.run ?? {}) as { dedupeKey?: string[]; versionColumn?: string | null; watermark?: { after: string | null } };
  const inc = m.spec.incremental;
  if (!inc || !run.dedupeKey) throw new Error(`${m.exportId}'s manifest has no run section: not a schedule's run`);
  const keyNames = run.dedupeKey.map((c, i) => column(info, c, `dedupeKey[${i}]`).name);
  const versionName = run.versionColumn ? column(info, run.versionColumn, "versionColumn").name : null;
  const wm = column(info, inc.column, "incremental.column").name;
  // The run's filter is the spec's filter plus the run's range (rangeFilter appends one or two predicates).
  const filter = m.spec.source.filter ?? [];
  const ranged = run.watermark?.after === null ? 1 : 2;
  const user = filterSql(info, filter.slice(0, Math.max(0, filter.length - ranged)));
  const range = filterSql(info, [
    ...(startAfter === null ? [] : [{ column: wm, op: ">" as const, value: startAfter }]),
    { column: wm, op: "<=" as const, value: watermark },
  ]);
  const after = filterSql(info, [{ column: wm, op: ">" as const, value: watermark }]);
  const keySpecs = keyNames.map((n) => {
    const c = m.schema.find((s) => s.name === n);
    if (!c) throw new Error(`the newest run's schema has no key column ${n}`);
    return c;
  });
  return {
    info,
    keyNames,
    versionName,
    inScope: and(user, range),
    pending: and(user, after),
    keyText: keyText("mariadb", keySpecs.map(sourceText)),
  };
}

const BATCH = 5_000;

/**
 * The keys changed since the last committed run, streamed from the source into DuckDB's `pending` table (they are
 * left out of both sides), a batch at a time: never every key in this process.
 */
export async function loadPending(conn: Connection, digest: ObjectDigest, scope: Scope): Promise<number> {
  await digest.query("CREATE TABLE pending (k VARCHAR)");
  const table = `${quoteMaria(scope.info.database)}.${quoteMaria(scope.info.table)}`;
  // The promise wrapper keeps the callback connection, whose query can be streamed.
  const raw = (conn as unknown as { connection: { query: (o: object) => { stream: () => AsyncIterable<unknown[]> } } }).connection;
  const stream = raw
    .query({ sql: `SELECT ${scope.keyText} FROM ${table} WHERE ${scope.pending.sql}`, values: scope.pending.params, rowsAsArray: true })
    .stream();
  let batch: string[] = [];
  let n = 0;
  const flush = async () => {
    if (batch.length) await digest.query(`INSERT INTO pending VALUES ${batch.map((k) => `('${k.replace(/'/g, "''")}')`).join(", ")}`);
    batch = [];
  };
  for await (const row of stream) {
    const k = row[0];
    batch.push(Buffer.isBuffer(k) ? k.toString("utf8") : String(k ?? ""));
    n++;
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return n;
}
