/**
 * The export benchmark's tables, generated once and kept in their own database (`sf_bench_export`), named by kind and
 * row count (`call_log_5000000`) so a smoke run does not replace the full run's table: a table is reused when the
 * bench's meta table records the same row count and the same digest of its generator's source (so a changed DDL or
 * generator regenerates it). `DROP DATABASE sf_bench_export` reclaims the space.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Connection } from "mysql2/promise";
import { createCallLog } from "../../../sim/data/call-log.ts";
import { createBigRows, createWideTable } from "../../../sim/data/wide-table.ts";

export const BENCH_DATABASE = "sf_bench_export";

export interface BenchTable {
  kind: string;
  name: string;
  rows: number;
  /** data_length + index_length from information_schema (InnoDB's estimate), bytes. */
  bytes: number;
  avgRowBytes: number;
  /** Bytes of a row's values as text (CONCAT_WS of every column), averaged over its first 2,000 rows. */
  textRowBytes: number;
  generatedSecs: number | null;
}

interface TableDef {
  kind: string;
  rows: number;
  generator: string;
  create(conn: Connection, database: string, table: string, rows: number): Promise<void>;
}

const src = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));

export function benchTableDefs(o: { callLogRows: number; wideRows: number; bigRows: number; signedCopy: boolean }): TableDef[] {
  const defs: TableDef[] = [
    {
      kind: "call_log",
      rows: o.callLogRows,
      generator: src("../../../sim/data/call-log.ts"),
      create: (conn, database, table, rows) => createCallLog(conn, { database, table, rows }),
    },
    {
      // mydumper 0.10.1 (Debian 12) hangs before its first chunk on BIGINT UNSIGNED keys above 2^63: the same rows with
      // the id's top bit cleared, so its rows can be measured (made from call_log, which comes first).
      kind: "call_log_signed",
      rows: o.callLogRows,
      generator: src("../../../sim/data/call-log.ts"),
      create: (conn, database, table, rows) => deriveSignedCallLog(conn, { database, table, from: `call_log_${rows}` }),
    },
    {
      kind: "wide",
      rows: o.wideRows,
      generator: src("../../../sim/data/wide-table.ts"),
      create: (conn, database, table, rows) => createWideTable(conn, { database, table, rows }),
    },
    {
      kind: "big_rows",
      rows: o.bigRows,
      generator: src("../../../sim/data/wide-table.ts"),
      create: (conn, database, table, rows) => createBigRows(conn, { database, table, rows }),
    },
  ];
  return o.signedCopy ? defs : defs.filter((d) => d.kind !== "call_log_signed");
}

async function deriveSignedCallLog(conn: Connection, o: { database: string; table: string; from: string }): Promise<void> {
  const t = `\`${o.database}\`.\`${o.table}\``;
  const from = `\`${o.database}\`.\`${o.from}\``;
  await conn.query(`DROP TABLE IF EXISTS ${t}`);
  await conn.query(`CREATE TABLE ${t} LIKE ${from}`);
  const [cols] = (await conn.query(
    "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    [o.database, o.from],
  )) as unknown as [{ c: string }[]];
  const list = cols.map((x) => (x.c === "id" ? "id & 0x7FFFFFFFFFFFFFFF" : `\`${x.c}\``)).join(", ");
  await conn.query(`INSERT INTO ${t} SELECT ${list} FROM ${from}`);
}

/** Generates what is missing or stale; returns every table's size. */
export async function ensureBenchTables(conn: Connection, defs: TableDef[], log: (l: string) => void): Promise<BenchTable[]> {
  const db = BENCH_DATABASE;
  await conn.query(`CREATE DATABASE IF NOT EXISTS \`${db}\` CHARACTER SET utf8mb4`);
  await conn.query(
    `CREATE TABLE IF NOT EXISTS \`${db}\`.bench_meta (name VARCHAR(64) PRIMARY KEY, \`rows\` BIGINT NOT NULL, digest CHAR(64) NOT NULL)`,
  );
  const out: BenchTable[] = [];
  for (const d of defs) {
    const name = `${d.kind}_${d.rows}`;
    const digest = createHash("sha256").update(readFileSync(d.generator)).update(d.kind).digest("hex");
    const [meta] = (await conn.query(`SELECT \`rows\`, digest FROM \`${db}\`.bench_meta WHERE name = ?`, [name])) as unknown as [
      { rows: number; digest: string }[],
    ];
    const [exists] = (await conn.query("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", [
      db,
      name,
    ])) as unknown as [unknown[]];
    let generatedSecs: number | null = null;
    if (!(exists.length && meta[0] && Number(meta[0].rows) === d.rows && meta[0].digest === digest)) {
      log(`generating ${db}.${name} (${d.rows.toLocaleString("en-US")} rows)...`);
      const t0 = performance.now();
      await conn.query(`DELETE FROM \`${db}\`.bench_meta WHERE name = ?`, [name]);
      await d.create(conn, db, name, d.rows).catch((e) => {
        throw new Error(`generating ${db}.${name}`, { cause: e });
      });
      await conn.query(`ANALYZE TABLE \`${db}\`.\`${name}\``);
      await conn.query(`INSERT INTO \`${db}\`.bench_meta VALUES (?, ?, ?)`, [name, d.rows, digest]);
      generatedSecs = (performance.now() - t0) / 1000;
    }
    const [info] = (await conn.query(
      "SELECT DATA_LENGTH + INDEX_LENGTH AS bytes, AVG_ROW_LENGTH AS avg FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
      [db, name],
    )) as unknown as [{ bytes: number; avg: number }[]];
    out.push({
      kind: d.kind,
      name,
      textRowBytes: await textRowBytes(conn, db, name),
      rows: d.rows,
      bytes: Number(info[0]?.bytes ?? 0),
      avgRowBytes: Number(info[0]?.avg ?? 0),
      generatedSecs,
    });
  }
  return out;
}

/** What a row holds, unlike InnoDB's figures (each long TEXT stored off-page takes a 16 KiB page of its own). */
async function textRowBytes(conn: Connection, db: string, table: string): Promise<number> {
  const [cols] = (await conn.query(
    "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    [db, table],
  )) as unknown as [{ c: string }[]];
  const list = cols.map(({ c }) => `\`${c}\``).join(", ");
  const [r] = (await conn.query(
    `SELECT AVG(LENGTH(CONCAT_WS('\t', ${list}))) AS b FROM (SELECT * FROM \`${db}\`.\`${table}\` LIMIT 2000) s`,
  )) as unknown as [{ b: number }[]];
  return Math.round(Number(r[0]?.b ?? 0));
}
