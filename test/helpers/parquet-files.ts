/**
 * Parquet objects written by the encoder to files of a scratch directory, and read back by DuckDB (values, per row
 * group metadata, schema): what the Parquet feature tests check the writer against.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { type ColumnSpec, createEncoder, type EncoderOptions } from "../../lib/output/encode/index.ts";

export function col(name: string, kind: ColumnSpec["kind"], extra: Partial<ColumnSpec> = {}): ColumnSpec {
  return { name, kind, nullable: true, precision: 0, scale: 0, fsp: 0, bits: 0, sourceType: kind, ...extra };
}

export async function query(sql: string): Promise<unknown[][]> {
  const db = await DuckDBInstance.create(":memory:");
  const con = await db.connect();
  try {
    return (await con.runAndReadAll(sql)).getRows();
  } finally {
    con.closeSync();
  }
}

/** A scratch directory of Parquet files; `remove()` deletes it (call it in `after`). */
export function parquetFiles(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let files = 0;
  return {
    remove: () => rmSync(dir, { recursive: true, force: true }),
    query,
    /** Encodes rows (in batches of 1000, in this thread unless opts say) and writes the object to a file for DuckDB. */
    async encode(columns: ColumnSpec[], rows: unknown[][], opts: EncoderOptions = {}): Promise<string> {
      const enc = createEncoder("parquet", columns, { threads: "inline", ...opts });
      const chunks: Buffer[] = [];
      const reading = (async () => {
        for await (const b of enc.output) chunks.push(b as Buffer);
      })();
      for (let i = 0; i < rows.length; i += 1000) await enc.write(rows.slice(i, i + 1000));
      await enc.end();
      await reading;
      const file = join(dir, `f${files++}.parquet`);
      writeFileSync(file, Buffer.concat(chunks));
      return file;
    },
    /** Every value of every column as DuckDB's text (NULL as null), in file order. */
    async readBack(file: string, columns: ColumnSpec[]): Promise<(string | null)[][]> {
      const rows = await query(`SELECT ${columns.map((c) => `CAST("${c.name}" AS VARCHAR)`).join(", ")} FROM '${file}'`);
      return rows.map((r) => r.map((v) => (v === null ? null : String(v))));
    },
    /** Per row group and column: encodings, min, max, null count (from DuckDB's parquet_metadata). */
    async chunkMeta(file: string) {
      const rows = await query(
        `SELECT row_group_id, path_in_schema, encodings, stats_min_value, stats_max_value, stats_null_count
         FROM parquet_metadata('${file}') ORDER BY row_group_id, column_id`,
      );
      return rows.map(([rg, name, encodings, min, max, nulls]) => ({
        rg: Number(rg),
        name: String(name),
        encodings: String(encodings),
        min: min === null ? null : String(min),
        max: max === null ? null : String(max),
        nulls: Number(nulls),
      }));
    },
    async schemaOf(file: string): Promise<Map<string, { repetition: string; duckdb: string; logical: string }>> {
      const rows = await query(
        `SELECT name, repetition_type, duckdb_type, logical_type FROM parquet_schema('${file}') WHERE num_children IS NULL`,
      );
      return new Map(rows.map(([n, rep, t, l]) => [String(n), { repetition: String(rep), duckdb: String(t), logical: String(l) }]));
    },
  };
}
