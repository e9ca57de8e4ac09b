/**
 * The hand-written Parquet writer beyond the per-type cases: many row groups, a dictionary-encoded ENUM, NULLs in a
 * few rows per group, BIGINT UNSIGNED above 2^63, each codec, and the column chunk statistics (min/max in the logical
 * type's order, strings in byte order, null counts), all read back by DuckDB as the independent reader.
 *   node --test test/encode-types.parquet.test.ts
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { DuckDBInstance } from "@duckdb/node-api";
import type { EncoderOptions } from "../../lib/output/encode/encoder.ts";
import { createEncoder } from "../../lib/output/encode/index.ts";
import { callLogBatches, callLogColumns } from "../bench/call-log-rows.ts";

const ROWS = 20_000;
const dir = mkdtempSync(join(tmpdir(), "spotferry-parquet-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function encode(opts: EncoderOptions): Promise<{ file: string; rows: unknown[][] }> {
  const enc = createEncoder("parquet", callLogColumns, { rowGroupRows: 4096, ...opts });
  const chunks: Buffer[] = [];
  const reading = (async () => {
    for await (const b of enc.output) chunks.push(b as Buffer);
  })();
  const rows: unknown[][] = [];
  for (const batch of callLogBatches(ROWS, 1500)) {
    rows.push(...batch);
    await enc.write(batch);
  }
  const stats = await enc.end();
  await reading;
  const bytes = Buffer.concat(chunks);
  assert.equal(stats.bytes, bytes.length);
  assert.equal(stats.rows, ROWS);
  const file = join(dir, `${opts.compression}-${opts.threads}.parquet`);
  writeFileSync(file, bytes);
  return { file, rows };
}

/** The driver value as DuckDB prints it (datetime as ISO with micros, decimals with their scale). */
function expectedText(j: number, v: unknown): string | null {
  if (v === null) return null;
  if (j === 4) return `${String(v).replace(" ", "T")}000`;
  return String(v);
}

for (const opts of [
  { compression: "zstd", threads: "worker" },
  { compression: "gzip", threads: "inline" },
  { compression: "snappy", threads: "worker" },
  { compression: "none", threads: "inline" },
] as const) {
  test(`call-log rows through ${opts.compression} (${opts.threads}) read back by DuckDB`, async () => {
    const { file, rows } = await encode(opts);
    const db = await DuckDBInstance.create(":memory:");
    const con = await db.connect();
    const names = callLogColumns.map((c) => c.name);
    const sel = names.map((n) => (n === "started_at" ? `strftime(${n}, '%Y-%m-%dT%H:%M:%S.%f')` : `CAST(${n} AS VARCHAR)`));
    const got = (await con.runAndReadAll(`SELECT ${sel.join(", ")} FROM '${file}'`)).getRows();
    assert.equal(got.length, ROWS);
    for (let r = 0; r < ROWS; r++) {
      for (let j = 0; j < names.length; j++) {
        const g = (got[r] as unknown[])[j];
        assert.equal(g === null ? null : String(g), expectedText(j, (rows[r] as unknown[])[j]), `row ${r} ${names[j]}`);
      }
    }
    const meta = await con.runAndReadAll(
      `SELECT row_group_id, path_in_schema, stats_min_value, stats_max_value, stats_null_count, encodings, compression
       FROM parquet_metadata('${file}') ORDER BY row_group_id, column_id`,
    );
    const groups = new Set(meta.getRows().map((m) => Number(m[0])));
    assert.equal(groups.size, Math.ceil(ROWS / 4096));
    for (const m of meta.getRows()) {
      const [rg, col, min, max, nulls, encodings] = m.map((x) => (x === null ? null : String(x)));
      const first = Number(rg) * 4096;
      const slice = rows.slice(first, first + 4096);
      const j = names.indexOf(String(col));
      const values = slice.map((r) => r[j]);
      assert.equal(Number(nulls), values.filter((v) => v === null).length, `${col} null_count in row group ${rg}`);
      if (col === "id") {
        // BIGINT UNSIGNED: statistics in unsigned order, so the values above 2^63 are the maximum.
        const ids = values.map((v) => BigInt(v as string | number));
        const sorted = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        assert.equal(min, String(sorted[0]));
        assert.equal(max, String(sorted.at(-1)));
      }
      if (col === "duration_s") {
        const n = values as number[];
        assert.equal(Number(min), Math.min(...n));
        assert.equal(Number(max), Math.max(...n));
      }
      if (col === "status") assert.match(String(encodings), /RLE_DICTIONARY/);
      // Unique text stays PLAIN (the dictionary is abandoned after the probe).
      if (col === "caller" || col === "notes") assert.doesNotMatch(String(encodings), /RLE_DICTIONARY/);
      if (col === "caller" || col === "notes" || col === "status") {
        // Strings: min/max in unsigned byte order; values past 64 bytes (ASCII here) are cut to 64, max's last byte + 1.
        const present = (values.filter((v) => v !== null) as string[]).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        const lo = present[0] as string;
        const hi = present.at(-1) as string;
        const cutMax = hi.length <= 64 ? hi : hi.slice(0, 63) + String.fromCharCode(hi.charCodeAt(63) + 1);
        assert.deepEqual([min, max], [lo.slice(0, 64), cutMax], `${col} min/max in row group ${rg}`);
      }
    }
    const types = new Map(
      (await con.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '${file}')`))
        .getRows()
        .map((r) => [String(r[0]), String(r[1])]),
    );
    assert.equal(types.get("id"), "UBIGINT");
    assert.equal(types.get("cost"), "DECIMAL(10,4)");
    assert.equal(types.get("started_at"), "TIMESTAMP");
    assert.equal(types.get("status"), "VARCHAR");
    con.closeSync();
  });
}

test("a chunk with no rows is an empty object", async () => {
  const enc = createEncoder("parquet", callLogColumns, {});
  const chunks: Buffer[] = [];
  const reading = (async () => {
    for await (const b of enc.output) chunks.push(b as Buffer);
  })();
  const stats = await enc.end();
  await reading;
  assert.equal(stats.rows, 0);
  assert.equal(Buffer.concat(chunks).length, 0);
});
