/**
 * Type round trip through every encoder: rows as mysql2 delivers them (built by hand, and, when the local stack is up,
 * really SELECTed from a MariaDB table holding every type) -> Parquet / NDJSON.gz / CSV.gz -> read back independently
 * (Parquet through DuckDB) -> compared value by value.
 *   node --test test/encode-types.test.ts
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { DuckDBInstance } from "@duckdb/node-api";
import mysql from "mysql2/promise";
import type { EncoderOptions, OutputFormat } from "../../lib/output/encode/encoder.ts";
import {
  type ColumnSpec,
  columnsFromFields,
  createEncoder,
  MYSQL_SOURCE_OPTIONS,
  type RawRows,
  type RowBatch,
  SESSION_INIT_SQL,
} from "../../lib/output/encode/index.ts";
import { decompressed } from "../../lib/output/object-keys.ts";
import { type Case, cases, NROWS } from "../helpers/encode-types-cases.ts";
import { wireRows } from "../helpers/wire-rows.ts";

function specs(): ColumnSpec[] {
  return cases.map((c) => ({
    name: c.name,
    kind: c.kind,
    nullable: true,
    precision: 0,
    scale: 0,
    fsp: 0,
    bits: 0,
    sourceType: c.ddl,
    ...c.spec,
  }));
}
function driverRows(): unknown[][] {
  return Array.from({ length: NROWS }, (_, r) => cases.map((c) => (c.rows[r] as Case["rows"][0])[1]));
}
const expected = (r: number, j: number) => ((cases[j] as Case).rows[r] as Case["rows"][0])[2];

async function encode(format: OutputFormat, columns: ColumnSpec[], rows: RowBatch, opts: EncoderOptions = {}) {
  const enc = createEncoder(format, columns, opts);
  const chunks: Buffer[] = [];
  const reading = (async () => {
    for await (const b of enc.output) chunks.push(b as Buffer);
  })();
  // Two batches, to cross a batch boundary.
  await enc.write(rows.slice(0, 1));
  await enc.write(rows.slice(1));
  const stats = await enc.end();
  await reading;
  return { bytes: Buffer.concat(chunks), stats };
}

const dir = mkdtempSync(join(tmpdir(), "spotferry-encode-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Canonical text of each value of a Parquet file, read by DuckDB. */
async function readParquet(bytes: Buffer, columns: ColumnSpec[]): Promise<(string | null)[][]> {
  const file = join(dir, `t-${Math.random().toString(36).slice(2)}.parquet`);
  writeFileSync(file, bytes);
  const db = await DuckDBInstance.create(":memory:");
  const con = await db.connect();
  const expr = columns.map((c) => {
    const q = `"${c.name}"`;
    if (c.kind === "datetime" || c.kind === "timestamp") return `strftime(make_timestamp(epoch_us(${q})), '%Y-%m-%d %H:%M:%S.%f')`;
    if (c.kind === "binary") return `to_base64(${q})`;
    return `CAST(${q} AS VARCHAR)`;
  });
  const types = await con.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '${file}')`);
  const typeOf = new Map(types.getRows().map((r) => [String(r[0]), String(r[1])]));
  assert.equal(typeOf.get("u64"), "UBIGINT");
  assert.equal(typeOf.get("i64"), "BIGINT");
  assert.equal(typeOf.get("dec"), "DECIMAL(38,10)");
  assert.equal(typeOf.get("dt6"), "TIMESTAMP");
  assert.equal(typeOf.get("ts3"), "TIMESTAMP WITH TIME ZONE");
  assert.equal(typeOf.get("d"), "DATE");
  assert.equal(typeOf.get("blob"), "BLOB");
  assert.equal(typeOf.get("j"), "JSON", "JSON columns carry the JSON logical type");
  const r = await con.runAndReadAll(`SELECT ${expr.join(", ")} FROM '${file}'`);
  return r.getRows().map((row) => row.map((v, j) => canonicalText(columns[j] as ColumnSpec, v === null ? null : String(v))));
}

function canonicalText(c: ColumnSpec, v: string | null): string | null {
  if (v === null) return null;
  if (c.kind === "datetime" || c.kind === "timestamp") {
    const s = v.replace("T", " ").replace(/Z$/, "");
    const [main, frac = ""] = s.split(".");
    return `${main}.${frac.padEnd(6, "0")}`;
  }
  if (c.kind === "float" || c.kind === "double") return String(Number(v));
  return v;
}

function readNdjson(bytes: Buffer, columns: ColumnSpec[]): (string | null)[][] {
  const lines = decompressed(bytes).toString("utf8").split("\n").filter(Boolean);
  return lines.map((l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    assert.deepEqual(
      Object.keys(o),
      columns.map((c) => c.name),
    );
    return columns.map((c) => {
      const v = o[c.name];
      if (v === null) return null;
      if ((c.kind === "int64" || c.kind === "uint64" || c.kind === "decimal") && typeof v !== "string")
        assert.fail(`${c.name} must be a JSON string`);
      return canonicalText(c, String(v));
    });
  });
}

/** RFC 4180 reader that keeps the difference between an empty unquoted field (NULL) and "" (empty string). */
function readCsv(bytes: Buffer, columns: ColumnSpec[]): (string | null)[][] {
  const s = decompressed(bytes).toString("utf8");
  const rows: (string | null)[][] = [];
  let row: (string | null)[] = [];
  let i = 0;
  while (i < s.length) {
    let field: string | null;
    if (s[i] === '"') {
      let v = "";
      i++;
      for (;;) {
        const q = s.indexOf('"', i);
        v += s.slice(i, q);
        i = q + 1;
        if (s[i] === '"') {
          v += '"';
          i++;
        } else break;
      }
      field = v;
    } else {
      let end = i;
      while (end < s.length && s[end] !== "," && s[end] !== "\n") end++;
      field = end === i ? null : s.slice(i, end);
      i = end;
    }
    row.push(field);
    if (s[i] === ",") i++;
    else {
      i++;
      rows.push(row);
      row = [];
    }
  }
  assert.deepEqual(
    rows.shift(),
    columns.map((c) => c.name),
  );
  return rows.map((r) => r.map((v, j) => canonicalText(columns[j] as ColumnSpec, v)));
}

function compare(got: (string | null)[][], columns: ColumnSpec[], what: string) {
  assert.equal(got.length, NROWS, `${what}: row count`);
  for (let r = 0; r < NROWS; r++) {
    for (let j = 0; j < columns.length; j++) {
      assert.equal((got[r] as (string | null)[])[j], expected(r, j), `${what}: row ${r} column ${(columns[j] as ColumnSpec).name}`);
    }
  }
}

async function roundTrip(columns: ColumnSpec[], rows: RowBatch, label: string) {
  for (const [format, opts] of [
    ["parquet", { compression: "zstd" }],
    ["parquet", { compression: "snappy", threads: "inline" }],
    ["ndjson", {}],
    ["csv", {}],
    ["ndjson", { compression: "zstd" }],
    ["csv", { compression: "zstd" }],
  ] as const) {
    const what = `${label} ${format} ${JSON.stringify(opts)}`;
    const { bytes, stats } = await encode(format, columns, rows, opts);
    assert.equal(stats.rows, NROWS);
    assert.equal(stats.bytes, bytes.length);
    assert.equal(stats.zeroDates, 3, `${what}: zero dates counted`);
    assert.equal(stats.columns.find((c) => c.name === "d")?.zeroDates, 1);
    const got =
      format === "parquet" ? await readParquet(bytes, columns) : format === "ndjson" ? readNdjson(bytes, columns) : readCsv(bytes, columns);
    compare(got, columns, what);
  }
}

describe("encoders round-trip every MySQL type", () => {
  test("rows as mysql2 delivers them", async () => {
    await roundTrip(specs(), driverRows(), "synthetic");
  });

  test("a bad value is reported with its column and the object abandoned", async () => {
    const enc = createEncoder("parquet", specs().slice(6, 7), {
      threads: "inline",
    });
    enc.output.on("error", () => {});
    await assert.rejects(enc.write([["12x45678901234567"]]), /column i64/);
  });

  const envFile = new URL("../../.spotferry/local.env", import.meta.url);
  const noStack = !existsSync(envFile) && "local stack not up (npx spotferry local up)";
  async function connect() {
    const env = Object.fromEntries(
      [...readFileSync(envFile, "utf8").matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], (m[2] as string).replace(/^'(.*)'$/, "$1")]),
    );
    const db = `enc_types_${process.pid}_${Date.now().toString(36)}`;
    const conn = await mysql.createConnection({
      host: env.SPOTFERRY_MYSQL_HOST,
      port: Number(env.SPOTFERRY_MYSQL_PORT),
      user: env.SPOTFERRY_MYSQL_USER,
      password: env.SPOTFERRY_MYSQL_PASSWORD,
      ...MYSQL_SOURCE_OPTIONS,
    });
    return { conn, db };
  }

  test("MariaDB's NOT NULL and TINYINT(1) reach the Parquet schema (REQUIRED, BOOLEAN when asked)", { skip: noStack }, async () => {
    const { conn, db } = await connect();
    try {
      await conn.query(SESSION_INIT_SQL);
      await conn.query(`CREATE DATABASE \`${db}\``);
      await conn.query(`USE \`${db}\``);
      await conn.query(
        `CREATE TABLE t (k INT NOT NULL PRIMARY KEY, n INT NULL, flag TINYINT(1) NOT NULL, b BOOL NULL, tiny TINYINT NOT NULL,
           dt DATETIME NOT NULL, name VARCHAR(20) NOT NULL, doc JSON NULL) DEFAULT CHARSET utf8mb4`,
      );
      await conn.query(`INSERT INTO t VALUES (1, NULL, 1, NULL, -5, '2024-01-02 03:04:05', 'a', '{"x": 1}'),
        (2, 7, 0, 1, 100, '2024-01-02 03:04:06', 'b', NULL)`);
      const select = "SELECT k, n, flag, b, tiny, dt, name, doc FROM t ORDER BY k";
      const [rows, fields] = await conn.query({ sql: select });
      const columns = columnsFromFields(fields as never);
      const by = new Map(columns.map((c) => [c.name, c]));
      assert.deepEqual(
        columns.map((c) => [c.name, c.nullable]),
        [
          ["k", false],
          ["n", true],
          ["flag", false],
          ["b", true],
          ["tiny", false],
          ["dt", true],
          ["name", false],
          ["doc", true],
        ],
        "NOT NULL from the driver's flags; DATETIME stays nullable (zero dates become NULL)",
      );
      assert.equal(by.get("flag")?.displayWidth, 1, "TINYINT(1): mysql2 columnLength 1");
      assert.equal(by.get("b")?.displayWidth, 1, "BOOL is TINYINT(1)");
      assert.notEqual(by.get("tiny")?.displayWidth, 1);
      const { bytes } = await encode("parquet", columns, rows as unknown[][], { tinyint1AsBoolean: true });
      const file = join(dir, `req-${db}.parquet`);
      writeFileSync(file, bytes);
      const duck = await (await DuckDBInstance.create(":memory:")).connect();
      const schema = (
        await duck.runAndReadAll(`SELECT name, repetition_type, duckdb_type FROM parquet_schema('${file}') WHERE num_children IS NULL`)
      )
        .getRows()
        .map((r) => r.map(String));
      assert.deepEqual(schema, [
        ["k", "REQUIRED", "INTEGER"],
        ["n", "OPTIONAL", "INTEGER"],
        ["flag", "REQUIRED", "BOOLEAN"],
        ["b", "OPTIONAL", "BOOLEAN"],
        ["tiny", "REQUIRED", "TINYINT"],
        ["dt", "OPTIONAL", "TIMESTAMP"],
        ["name", "REQUIRED", "VARCHAR"],
        ["doc", "OPTIONAL", "JSON"],
      ]);
      const back = (await duck.runAndReadAll(`SELECT k, n, flag, b, tiny, name, doc FROM '${file}'`))
        .getRows()
        .map((r) => r.map((v) => (v === null ? null : String(v))));
      assert.deepEqual(back, [
        ["1", null, "true", null, "-5", "a", '{"x": 1}'],
        ["2", "7", "false", "true", "100", "b", null],
      ]);
      duck.closeSync();
      // MySQL's TINYINT(1) holds -128..127: a 2 fails the chunk (naming the column) instead of becoming true.
      await conn.query("INSERT INTO t VALUES (3, NULL, 2, NULL, 0, '2024-01-02 03:04:07', 'c', NULL)");
      const [more] = await conn.query({ sql: select });
      const enc = createEncoder("parquet", columns, { tinyint1AsBoolean: true, threads: "inline" });
      enc.output.on("error", () => {});
      await assert.rejects(enc.write(more as unknown[][]), /column flag/);
    } finally {
      await conn.query(`DROP DATABASE IF EXISTS \`${db}\``).catch(() => {});
      await conn.end();
    }
  });

  test("rows SELECTed from MariaDB", { skip: noStack }, async () => {
    const { conn, db } = await connect();
    try {
      await conn.query(SESSION_INIT_SQL);
      await conn.query(`CREATE DATABASE \`${db}\``);
      await conn.query(`USE \`${db}\``);
      // Zero dates can only be stored outside strict mode.
      await conn.query("SET SESSION sql_mode = ''");
      await conn.query(
        `CREATE TABLE t (k INT PRIMARY KEY, ${cases.map((c) => `\`${c.name}\` ${c.ddl}`).join(", ")}) DEFAULT CHARSET utf8mb4`,
      );
      for (let r = 0; r < NROWS; r++) {
        await conn.query(`INSERT INTO t VALUES (${r}, ${cases.map((c) => (c.rows[r] as Case["rows"][0])[0]).join(", ")})`);
      }
      const [rows, fields] = await conn.query({
        sql: `SELECT ${cases.map((c) => `\`${c.name}\``).join(", ")} FROM t ORDER BY k`,
      });
      const columns = columnsFromFields(fields as never);
      assert.deepEqual(
        columns.map((c) => [c.name, c.kind]),
        cases.map((c) => [c.name, c.kind]),
      );
      assert.deepEqual(
        columns.find((c) => c.name === "dec"),
        { ...columns.find((c) => c.name === "dec"), precision: 38, scale: 10 },
      );
      assert.equal(columns.find((c) => c.name === "dt6")?.fsp, 6);
      assert.equal(columns.find((c) => c.name === "bit10")?.bits, 10);
      // The driver delivers exactly what the synthetic rows claim.
      assert.deepEqual(rows, driverRows());
      await roundTrip(columns, rows as unknown[][], "mariadb");
      // The same rows as wire bytes (what the agent hands the Parquet encoder): the driver's values come back from
      // them, every format round-trips, and Parquet is byte for byte what the driver's values give.
      const sql = `SELECT ${cases.map((c) => `\`${c.name}\``).join(", ")} FROM t ORDER BY k`;
      const pairs = await wireRows(conn, sql, cases.length, 2);
      assert.ok(pairs.length > 1);
      assert.deepEqual(
        pairs.flatMap((b) => b.rows()),
        rows,
      );
      const [wire] = (await wireRows(conn, sql, cases.length, 1000)) as [RawRows];
      await roundTrip(columns, wire, "mariadb wire bytes");
      for (const compression of ["zstd", "none"] as const) {
        const viaValues = await encode("parquet", columns, rows as unknown[][], { compression });
        const viaBytes = await encode("parquet", columns, wire, { compression });
        assert.ok(viaBytes.bytes.equals(viaValues.bytes), `Parquet (${compression}) from wire bytes equals Parquet from values`);
      }
      for (const format of ["ndjson", "csv"] as const) {
        const viaValues = await encode(format, columns, rows as unknown[][], { compression: "none" });
        const viaBytes = await encode(format, columns, wire, { compression: "none" });
        assert.equal(viaBytes.bytes.toString(), viaValues.bytes.toString(), `${format} from wire bytes equals ${format} from values`);
      }
    } finally {
      await conn.query(`DROP DATABASE IF EXISTS \`${db}\``).catch(() => {});
      await conn.end();
    }
  });
});
