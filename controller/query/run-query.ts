import { DuckDBInstance } from "@duckdb/node-api";
import type { Manifest } from "../../lib/output/manifest.ts";
import { buildDdl } from "./ddl.ts";
import type { LocalCopy } from "./fetch.ts";

/**
 * Runs one SQL text in DuckDB over local copies of an export's objects, where the export is the view `export`
 * (the same statement `spotferry ddl --engine duckdb` prints, with paths rewritten to the copies). TIMESTAMP
 * columns print in UTC whatever the machine's zone.
 */
export interface QueryResult {
  columns: string[];
  types: string[];
  /** JSON-safe values: decimals, timestamps and 64-bit integers beyond 2^53 as strings. */
  rows: unknown[][];
}

/** The SQL was refused by DuckDB (parse, bind or run time); the message is DuckDB's, on one line. */
export class SqlError extends Error {}

const WIDE_INTEGER = /^(BIGINT|UBIGINT|HUGEINT|UHUGEINT)$/;

/** DuckDB's JSON form gives 64-bit integers as strings; those a JSON number holds exactly become numbers (count(*)). */
function safeInteger(v: unknown, type: string): unknown {
  if (typeof v !== "string" || !WIDE_INTEGER.test(type)) return v;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

export async function runQuery(opts: { manifest: Manifest; copy: LocalCopy; sql: string }): Promise<QueryResult> {
  const ddl = buildDdl({
    manifest: opts.manifest,
    engine: "duckdb",
    table: "export",
    location: (key) => {
      const path = opts.copy.paths.get(key);
      if (!path) throw new Error(`object ${key} was not downloaded`);
      return path;
    },
  });
  const db = await DuckDBInstance.create(":memory:");
  const con = await db.connect();
  try {
    await con.run("SET TimeZone = 'UTC'");
    await con.run(ddl.statement).catch((cause) => {
      throw new Error(`creating the view export over ${opts.copy.paths.size} objects`, { cause });
    });
    let reader: Awaited<ReturnType<typeof con.runAndReadAll>>;
    try {
      reader = await con.runAndReadAll(opts.sql);
    } catch (err) {
      throw new SqlError(
        String((err as Error).message ?? err)
          .replace(/\s*\n\s*/g, " ")
          .trim(),
      );
    }
    const types = reader.columnTypes().map(String);
    return { columns: reader.columnNames(), types, rows: reader.getRowsJson().map((r) => r.map((v, i) => safeInteger(v, types[i]!))) };
  } finally {
    con.closeSync();
    db.closeSync();
  }
}
