import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { DuckDBInstance } from "@duckdb/node-api";
import mysql from "mysql2/promise";
import { readManifest } from "../../controller/finalize/finalize.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { createStateTable, deleteStateTable } from "../../lib/dynamo/table.ts";
import type { Manifest } from "../../lib/output/manifest.ts";
import { repoRoot } from "../../sim/stack/stack.ts";
import { mysqlOptions, stackSource, uniqueName } from "../helpers/env.ts";
import { dropBucket } from "../helpers/temp-bucket.ts";

// `spotferry query` and `spotferry ddl --engine duckdb` over real exports (export run --local) of a table of this
// test's own with many types, in Parquet, NDJSON and CSV: DuckDB returns the source's rows exactly, `count(*)` is the
// manifest's row count, an object of an abandoned attempt left in the data prefix is not read, and the documented
// errors exit 2 (unknown, not complete, bad SQL) and 3 (S3 unreachable).

const ROWS = 2400;
const name = uniqueName("q").replace(/-/g, "");
const database = `sf_${name}`;
const tableName = `state-${name}`;
const bucket = `b-${name}`.toLowerCase();
const dir = mkdtempSync(join(tmpdir(), "spotferry-query-test-"));
const s3 = s3Client();
const ddb = dynamoClient();
let conn: mysql.Connection;
const exports = new Map<string, string>(); // format -> export id

type Result = { code: number; stdout: string; stderr: string };
function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(repoRoot, "bin", "spotferry.mjs"), ...args],
      { env: { ...process.env, SPOTFERRY_STATE_TABLE: tableName, SPOTFERRY_HOME: dir, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The same text per column on both sides: MariaDB's CAST(... AS CHAR) in zone +00:00, binary as HEX. */
const SOURCE_SQL = `SELECT CAST(id AS CHAR) id, CAST(n AS CHAR) n, CAST(amount AS CHAR) amount, ratio, CAST(day AS CHAR) day,
  CAST(at_local AS CHAR) at_local, CAST(at_utc AS CHAR) at_utc, label, doc, HEX(raw) raw, kind, CAST(flag AS CHAR) flag
  FROM ${database}.items ORDER BY items.id`;
const duckSql = (table: string) => `SELECT id::VARCHAR id, n::VARCHAR n, amount::VARCHAR amount, ratio,
  strftime(day, '%Y-%m-%d') AS "day", strftime(at_local, '%Y-%m-%d %H:%M:%S.%f') at_local,
  strftime(at_utc, '%Y-%m-%d %H:%M:%S.%g') at_utc, label, doc::VARCHAR doc, hex(raw) raw, kind, flag::VARCHAR flag
  FROM ${table} AS t ORDER BY t.id`;

/** Row by row, so a difference names its row instead of diffing thousands of objects. */
async function assertSourceRows(actual: unknown[]): Promise<void> {
  const expected = await sourceRows();
  assert.equal(actual.length, expected.length, "row count");
  for (const [i, row] of expected.entries()) assert.deepEqual(actual[i], row, `row ${i} (id ${String(row.id)})`);
}

async function sourceRows(): Promise<Record<string, unknown>[]> {
  await conn.query("SET time_zone = '+00:00'");
  const [rows] = await conn.query(SOURCE_SQL);
  return (rows as Record<string, unknown>[]).map((r) => ({ ...r }));
}

async function seed(): Promise<void> {
  await conn.query(`CREATE DATABASE ${database} CHARACTER SET utf8mb4`);
  await conn.query(`CREATE TABLE ${database}.items (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY, n INT NULL, amount DECIMAL(20,4) NULL, ratio DOUBLE NULL, day DATE NULL,
    at_local DATETIME(6) NULL, at_utc TIMESTAMP(3) NULL DEFAULT NULL, label VARCHAR(64) NULL, doc JSON NULL,
    raw VARBINARY(16) NULL, kind ENUM('a','b','c') NULL, flag TINYINT(1) NULL) CHARACTER SET utf8mb4`);
  await conn.query("SET time_zone = '+00:00'");
  const rows: unknown[][] = [];
  for (let i = 0; i < ROWS; i++) {
    const id = i === ROWS - 1 ? "18446744073709551615" : String(i * 7 + 1);
    const label = i % 13 === 0 ? null : i % 11 === 0 ? "" : i === 5 ? 'a,"b"\nc' : `row ${i} ✓ 😀`;
    rows.push([
      id,
      i % 5 === 0 ? null : i * 1000 - 50_000,
      i % 6 === 0 ? null : `${i % 2 ? "-" : ""}${i * 12345}.${String(i % 10_000).padStart(4, "0")}`,
      i % 4 === 0 ? null : i / 8,
      `2024-01-${String((i % 28) + 1).padStart(2, "0")}`,
      new Date(Date.UTC(2024, 1, 3, 4, 5, 6) + i * 1000).toISOString().replace("T", " ").replace("Z", "").slice(0, 19) +
        `.${String((i * 4099) % 1_000_000).padStart(6, "0")}`,
      i % 7 === 0 ? null : new Date(Date.UTC(2024, 4, 6, 7, 8, 9, i % 1000) + i * 60_000).toISOString().replace("T", " ").replace("Z", ""),
      label,
      i % 9 === 0 ? null : JSON.stringify({ i, s: `x${i}`, nested: [1, "two"] }),
      i % 8 === 0 ? null : Buffer.from([0, i & 255, 255, (i * 31) & 255]),
      ["a", "b", "c", null][i % 4],
      i % 3 === 0 ? null : i % 2,
    ]);
  }
  await conn.query(`INSERT INTO ${database}.items (id, n, amount, ratio, day, at_local, at_utc, label, doc, raw, kind, flag) VALUES ?`, [
    rows,
  ]);
}

function specFile(format: string, exportName: string): string {
  const file = join(dir, `${exportName}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      kind: "Export",
      name: exportName,
      pool: `pool-${name}`,
      source: stackSource(database, "items"),
      // CSV as zstd (.csv.zst), NDJSON as gzip (the default): DuckDB reads both by their extension.
      destination: { bucket, prefix: "out/", format, ...(format === "csv" ? { compression: "zstd" } : {}), chunk: { maxRows: 400 } },
      partitioning: { targetRows: 1000 },
      retry: { maxAttempts: 2, backoff: "1s" },
    }),
  );
  return file;
}

async function runExport(format: string): Promise<string> {
  const r = await cli(["export", "run", "--config", specFile(format, `items-${format}`), "--local", "--workers", "2", "--json"]);
  assert.equal(r.code, 0, `export run (${format}) failed:\n${r.stderr.slice(-2000)}`);
  return (JSON.parse(r.stdout) as { exportId: string }).exportId;
}

async function manifestOf(exportId: string): Promise<Manifest> {
  return readManifest(s3, bucket, `out/${exportId}/_manifest.json`);
}

before(async () => {
  conn = await mysql.createConnection({
    ...mysqlOptions(),
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    jsonStrings: true,
  });
  await seed();
  await createStateTable(ddb, tableName);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const format of ["parquet", "ndjson", "csv"]) exports.set(format, await runExport(format));
});

after(async () => {
  await dropBucket(s3, bucket).catch(() => {});
  await deleteStateTable(ddb, tableName).catch(() => {});
  await conn?.query(`DROP DATABASE IF EXISTS ${database}`).catch(() => {});
  await conn?.end();
  s3.destroy();
  ddb.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe("spotferry query and ddl over real exports", { timeout: 600_000 }, () => {
  test("count(*) is the manifest's row count, whatever else lies in the data prefix", async () => {
    const id = exports.get("parquet")!;
    const m = await manifestOf(id);
    assert.ok(m.totals.chunks >= 4, `several objects (${m.totals.chunks})`);
    // An abandoned attempt's object (a copy of a committed one under another name) must not be read.
    const first = m.partitions[0]!.chunks[0]!;
    const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: first.key }))).Body!.transformToByteArray();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `out/${id}/data/part-000000/chunk-000099-e9.parquet`, Body: body }));
    const r = await cli(["query", id, "SELECT count(*) AS n FROM export"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(m.totals.rows, ROWS);
    assert.deepEqual(r.stdout.split("\n"), ["n".padStart(String(ROWS).length), String(ROWS), ""], "a header and the count, aligned");
  });

  for (const format of ["parquet", "ndjson", "csv"]) {
    test(`query over the ${format} export returns the source's rows exactly`, async () => {
      const r = await cli(["query", exports.get(format)!, duckSql("export"), "--json"]);
      assert.equal(r.code, 0, r.stderr);
      await assertSourceRows(JSON.parse(r.stdout));
    });
  }

  test("the duckdb DDL, run in DuckDB over local copies of its paths, returns the source's rows exactly", async () => {
    const id = exports.get("parquet")!;
    const r = await cli(["ddl", id, "--engine", "duckdb", "--table", "items"]);
    assert.equal(r.code, 0, r.stderr);
    const m = await manifestOf(id);
    const urls = [...r.stdout.matchAll(/'(s3:\/\/[^']+)'/g)].map((x) => x[1]!);
    assert.deepEqual(
      urls,
      m.partitions.flatMap((p) => p.chunks.map((c) => `s3://${bucket}/${c.key}`)),
      "exactly the manifest's objects",
    );
    let statement = r.stdout;
    for (const [i, url] of urls.entries()) {
      const file = join(dir, `copy-${i}.parquet`);
      const key = url.slice(`s3://${bucket}/`.length);
      writeFileSync(file, await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
      statement = statement.replace(`'${url}'`, `'${file}'`);
    }
    const db = await DuckDBInstance.create(":memory:");
    const con = await db.connect();
    try {
      await con.run("SET TimeZone = 'UTC'");
      await con.run(statement);
      const types = await con.runAndReadAll("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'items'");
      assert.deepEqual(Object.fromEntries(types.getRows() as [string, string][]), {
        id: "UBIGINT",
        n: "INTEGER",
        amount: "DECIMAL(20,4)",
        ratio: "DOUBLE",
        day: "DATE",
        at_local: "TIMESTAMP",
        at_utc: "TIMESTAMP WITH TIME ZONE",
        label: "VARCHAR",
        doc: "JSON",
        raw: "BLOB",
        kind: "VARCHAR",
        flag: "TINYINT",
      });
      const rows = (await con.runAndReadAll(duckSql("items"))).getRowObjectsJson();
      await assertSourceRows(rows);
    } finally {
      con.closeSync();
      db.closeSync();
    }
  });

  test("a spec name resolves through its _latest.json pointer", async () => {
    const id = exports.get("ndjson")!;
    const pointer = JSON.parse(
      await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "out/items-ndjson/_latest.json" }))).Body!.transformToString(),
    );
    assert.equal(pointer.exportId, id);
    assert.equal(pointer.rows, ROWS);
    const r = await cli(["query", "items-ndjson", "SELECT count(*) AS n, max(id)::VARCHAR AS top FROM export", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [{ n: ROWS, top: "18446744073709551615" }]);
  });

  test("errors: unknown id, an export not complete, bad SQL exit 2 on one line; S3 unreachable exits 3", async () => {
    const unknown = await cli(["query", "no-such-export", "SELECT 1"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^error: no export with id or spec name no-such-export in state table /);
    const plan = await cli(["export", "plan", "--config", specFile("parquet", "items-planned"), "--json"]);
    assert.equal(plan.code, 0, plan.stderr);
    const planned = (JSON.parse(plan.stdout) as { exportId: string }).exportId;
    const incomplete = await cli(["query", planned, "SELECT 1"]);
    assert.equal(incomplete.code, 2);
    assert.match(incomplete.stderr, new RegExp(`^error: export ${planned} is RUNNING, not complete`));
    const bad = await cli(["query", exports.get("parquet")!, "SELEC nonsense FROM export"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: Parser Error: syntax error at or near "SELEC"/);
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    const down = await cli(["query", exports.get("parquet")!, "SELECT 1"], { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9" });
    assert.equal(down.code, 3, down.stderr);
    assert.match(down.stderr, /unreachable/);
  });
});
