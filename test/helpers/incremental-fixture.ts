import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import mysql from "mysql2/promise";
import { type ExportSpec, type ExportSpecInput, exportSpec } from "../../config/export-spec.ts";
import { readManifest } from "../../controller/finalize/finalize.ts";
import type { SchedulerDeps } from "../../controller/schedule/scheduler.ts";
import { DynamoScheduleStore } from "../../controller/store/dynamo-schedule-store.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { FakeClock, systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { createStateTable } from "../../lib/dynamo/table.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import type { Manifest } from "../../lib/output/manifest.ts";
import { repoRoot } from "../../sim/stack/stack.ts";
import { mysqlOptions, stackSource, uniqueName } from "./env.ts";
import { dropFixture } from "./export-fixture.ts";

/**
 * What an incremental-schedule test owns: a MariaDB database (tables created by `table()`), a state table, a bucket,
 * a FakeClock for schedule time, and SchedulerDeps running each run on local agent processes. `cleanup` removes all.
 */
export interface IncrementalFixture {
  database: string;
  bucket: string;
  /** The DynamoDB state table (SPOTFERRY_STATE_TABLE for CLI calls). */
  tableName: string;
  conn: mysql.Connection;
  clock: FakeClock;
  deps: SchedulerDeps;
  schedules: DynamoScheduleStore;
  /** An `orders` table (AUTO_INCREMENT id, customer_id, amount, note NULL, updated_at DATETIME(6) ON UPDATE). */
  ordersTable(name: string): Promise<void>;
  /** Inserts n orders; customer ids cycle over 1..customers+3 (the last three have no customer row). */
  insertOrders(table: string, n: number, customers?: number): Promise<void>;
  spec(name: string, table: string, extra?: Partial<ExportSpecInput>): ExportSpec;
  manifestOf(key: string): Promise<Manifest>;
  /** Every row of a run's NDJSON objects. */
  rowsOf(manifest: Manifest): Promise<Record<string, unknown>[]>;
  cleanup(): Promise<void>;
}

export async function incrementalFixture(): Promise<IncrementalFixture> {
  const name = uniqueName("inc").replace(/-/g, "");
  const database = `sf_${name}`;
  const tableName = `state-${name}`;
  const bucket = `b-${name}`.toLowerCase();
  const conn = await mysql.createConnection({ ...mysqlOptions(), multipleStatements: false });
  await conn.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
  const ddb = dynamoClient();
  await createStateTable(ddb, tableName);
  const s3 = s3Client();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const dir = mkdtempSync(join(tmpdir(), "spotferry-inc-"));
  const clock = new FakeClock(Date.parse("2026-11-21T10:05:00Z"));
  const schedules = new DynamoScheduleStore({ client: ddb, tableName, clock });
  const jobs = new DynamoJobStore({ client: ddb, tableName, clock: systemClock });
  const deps: SchedulerDeps = {
    jobs,
    schedules,
    s3,
    clock,
    owner: "test-scheduler",
    local: {
      workers: 2,
      stateTable: tableName,
      agentCommand: [process.execPath, join(repoRoot, "bin", "spotferry.mjs")],
      leaseSeconds: 5,
      logDir: join(dir, "logs"),
    },
    log: process.env.SPOTFERRY_TEST_LOG ? (l) => process.stderr.write(`${l}\n`) : undefined,
  };
  return {
    database,
    bucket,
    tableName,
    conn,
    clock,
    deps,
    schedules,
    async ordersTable(t) {
      await conn.query(`CREATE TABLE \`${database}\`.\`${t}\` (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        customer_id INT NOT NULL,
        amount DECIMAL(10,2) NOT NULL,
        note VARCHAR(40) NULL,
        updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
        KEY updated_idx (updated_at)
      ) ENGINE=InnoDB`);
    },
    async insertOrders(t, n, customers = 20) {
      const [[{ m }]] = (await conn.query(`SELECT COALESCE(MAX(id), 0) AS m FROM \`${database}\`.\`${t}\``)) as unknown as [
        [{ m: number }],
      ];
      // Only the columns the table still has (drift tests drop and rename some).
      const [present] = await conn.query(
        "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
        [database, t],
      );
      const has = new Set((present as { c: string }[]).map((r) => r.c));
      const wanted = ["customer_id", "amount", "note"].filter((c) => has.has(c));
      const rows = Array.from({ length: n }, (_, i) => {
        const k = Number(m) + i + 1;
        const all: Record<string, unknown> = {
          customer_id: 1 + (k % (customers + 3)),
          amount: (k % 1000) + 0.25,
          note: k % 5 === 0 ? null : `order ${k}`,
        };
        return wanted.map((c) => all[c]);
      });
      for (let i = 0; i < rows.length; i += 1000)
        await conn.query(`INSERT INTO \`${database}\`.\`${t}\` (${wanted.join(", ")}) VALUES ?`, [rows.slice(i, i + 1000)]);
    },
    spec(specName, t, extra = {}) {
      return exportSpec.parse({
        kind: "Export",
        name: specName,
        pool: `pool-${name}`,
        source: stackSource(database, t),
        destination: { bucket, prefix: "lake/", format: "ndjson", compression: "none", chunk: { maxRows: 5_000 } },
        partitioning: { targetRows: 20_000 },
        retry: { maxAttempts: 2, backoff: "1s" },
        incremental: { mode: "updated-at", column: "updated_at", safetyLag: "0s", every: "5m" },
        ...extra,
      } as ExportSpecInput);
    },
    manifestOf: (key) => readManifest(s3, bucket, key),
    async rowsOf(manifest) {
      const out: Record<string, unknown>[] = [];
      for (const p of manifest.partitions) {
        for (const c of p.chunks) {
          const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: c.key }));
          for (const line of (await res.Body!.transformToString()).split("\n")) if (line) out.push(JSON.parse(line));
        }
      }
      return out;
    },
    async cleanup() {
      await dropFixture({ s3, bucket, ddb, tableName, conn, database, dir });
    },
  };
}
