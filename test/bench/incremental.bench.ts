/**
 * Latency of an incremental run: from the schedule's tick to its committed manifest (watermark advanced), for 100k
 * new rows on a large table (10 M rows by default), with 2 local agent processes, in id mode and in updated-at mode
 * (the latter with the row-count and distinct quality rules, which read the run's objects back). Also the cost of a
 * tick that finds nothing new. Both schedules start after the table's existing rows (incremental.startAfter), as a
 * schedule does once its backfill is done.
 * Usage: node test/bench/incremental.bench.ts [--rows N] [--new N] [--format parquet|ndjson]
 * (prints figures; asserts nothing)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, paginateListObjectsV2 } from "@aws-sdk/client-s3";
import mysql from "mysql2/promise";
import { exportSpec } from "../../config/export-spec.ts";
import { type SchedulerDeps, tick } from "../../controller/schedule/scheduler.ts";
import { DynamoScheduleStore } from "../../controller/store/dynamo-schedule-store.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { FakeClock, systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { createStateTable, deleteStateTable } from "../../lib/dynamo/table.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { repoRoot } from "../../sim/stack/stack.ts";
import { mysqlOptions, stackSource } from "../helpers/env.ts";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] as string) : dflt;
};
const rows = Number(arg("rows", "10000000"));
const fresh = Number(arg("new", "100000"));
const format = arg("format", "parquet") as "parquet" | "ndjson";
const tag = `b${process.pid}`;
const database = `bench_inc_${tag}`;
const tableName = `state-bench-${tag}`;
const bucket = `bench-inc-${tag}`;
const conn = await mysql.createConnection(mysqlOptions());
const ddb = dynamoClient();
const s3 = s3Client();
const dir = mkdtempSync(join(tmpdir(), "spotferry-bench-inc-"));
const t = (s: number) => `${s.toFixed(2)} s`;

try {
  let t0 = performance.now();
  await conn.query(`CREATE DATABASE ${database}`);
  await conn.query(`CREATE TABLE ${database}.orders (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL,
    note VARCHAR(40) NULL, updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    KEY updated_idx (updated_at)) ENGINE=InnoDB`);
  for (let s = 1; s <= rows; s += 1_000_000) {
    const e = Math.min(rows, s + 999_999);
    await conn.query(`INSERT INTO ${database}.orders (id, customer_id, amount, note, updated_at)
      SELECT seq, seq MOD 5000, (seq MOD 100000) / 100, IF(seq MOD 7 = 0, NULL, CONCAT('order ', seq)),
             TIMESTAMP('2025-01-01') + INTERVAL seq SECOND FROM ${database}.seq_${s}_to_${e}`);
  }
  const seed = (performance.now() - t0) / 1000;
  const [[mx]] = (await conn.query(
    "SELECT CAST(MAX(id) AS CHAR) AS id, CAST(MAX(updated_at) AS CHAR) AS u FROM " + `${database}.orders`,
  )) as unknown as [[{ id: string; u: string }]];
  await createStateTable(ddb, tableName);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const clock = new FakeClock(Date.parse("2026-11-21T10:05:00Z"));
  const deps: SchedulerDeps = {
    jobs: new DynamoJobStore({ client: ddb, tableName, clock: systemClock }),
    schedules: new DynamoScheduleStore({ client: ddb, tableName, clock }),
    s3,
    clock,
    owner: "bench",
    local: {
      workers: 2,
      stateTable: tableName,
      agentCommand: [process.execPath, join(repoRoot, "bin", "spotferry.mjs")],
      leaseSeconds: 15,
      logDir: join(dir, "logs"),
    },
    log: (l) => process.stdout.write(`  ${((performance.now() - t0) / 1000).toFixed(2)} s  ${l}\n`),
  };
  const spec = (name: string, incremental: Record<string, unknown>, quality: unknown[] = []) =>
    exportSpec.parse({
      kind: "Export",
      name,
      pool: `pool-${tag}`,
      source: stackSource(database, "orders"),
      destination: { bucket, prefix: "lake/", format },
      incremental: { every: "5m", ...incremental },
      quality,
    });
  const byId = spec("bench-id", { mode: "id", column: "id", startAfter: mx.id });
  const byTime = spec("bench-updated", { mode: "updated-at", column: "updated_at", safetyLag: "0s", startAfter: mx.u }, [
    { rule: "row-count" },
    { rule: "distinct" },
  ]);

  const measure = async (label: string, s: typeof byId) => {
    t0 = performance.now();
    const r = await tick(deps, s);
    const secs = (performance.now() - t0) / 1000;
    await clock.advance(5 * 60_000);
    return { label, action: r.action, rows: r.run?.rows ?? 0, secs, message: r.message };
  };
  const results = [await measure("idle tick, id mode", byId), await measure("idle tick, updated-at mode", byTime)];
  t0 = performance.now();
  await conn.query(`INSERT INTO ${database}.orders (customer_id, amount, note)
      SELECT seq MOD 5000, (seq MOD 100000) / 100, CONCAT('new ', seq) FROM ${database}.seq_1_to_${fresh}`);
  const insert = (performance.now() - t0) / 1000;
  results.push(await measure(`${fresh} new rows, id mode`, byId));
  results.push(await measure(`${fresh} new rows, updated-at mode + row-count, distinct`, byTime));

  process.stdout.write(
    `\ntable: ${rows.toLocaleString("en-US")} rows (seeded in ${t(seed)}); inserted ${fresh.toLocaleString("en-US")} rows in ${t(insert)}; ${format}, 2 local agents\n`,
  );
  process.stdout.write(
    `${"tick".padEnd(58)}${"action".padEnd(14)}${"rows".padStart(10)}${"tick -> manifest".padStart(20)}${"rows/s".padStart(12)}\n`,
  );
  for (const r of results) {
    const rate = r.rows ? Math.round(r.rows / r.secs).toLocaleString("en-US") : "-";
    process.stdout.write(
      `${r.label.padEnd(58)}${r.action.padEnd(14)}${r.rows.toLocaleString("en-US").padStart(10)}${t(r.secs).padStart(20)}${rate.padStart(12)}\n`,
    );
  }
} finally {
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket })) {
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
  await deleteStateTable(ddb, tableName).catch(() => {});
  await conn.query(`DROP DATABASE IF EXISTS ${database}`);
  await conn.end();
  ddb.destroy();
  s3.destroy();
  rmSync(dir, { recursive: true, force: true });
}
