import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { S3Client } from "@aws-sdk/client-s3";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import mysql from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import { exportSpec } from "../../config/export-spec.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { createStateTable, deleteStateTable } from "../../lib/dynamo/table.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { createCallLog } from "../../sim/data/call-log.ts";
import { mysqlOptions, stackSource, uniqueName } from "./env.ts";
import { dropBucket } from "./temp-bucket.ts";

/**
 * Everything one export test owns: a MariaDB database with a generated call log, a DynamoDB state table, a bucket
 * and a spec file pointing at them. `cleanup` removes all of it.
 */
export interface ExportFixture {
  name: string;
  database: string;
  tableName: string;
  bucket: string;
  dir: string;
  specFile: string;
  spec: ExportSpec;
  store: DynamoJobStore;
  s3: ReturnType<typeof s3Client>;
  ddb: ReturnType<typeof dynamoClient>;
  conn: mysql.Connection;
  cleanup(): Promise<void>;
}

export async function exportFixture(opts: {
  rows: number;
  format?: "parquet" | "ndjson" | "csv";
  chunkRows?: number;
  targetRows?: number;
  clock?: Clock;
}): Promise<ExportFixture> {
  const name = uniqueName("t").replace(/-/g, "");
  const database = `sf_${name}`;
  const tableName = `state-${name}`;
  const bucket = `b-${name}`.toLowerCase();
  const conn = await mysql.createConnection(mysqlOptions());
  await createCallLog(conn, { database, rows: opts.rows });
  const ddb = dynamoClient();
  await createStateTable(ddb, tableName);
  const s3 = s3Client();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const dir = mkdtempSync(join(tmpdir(), "spotferry-export-"));
  const input = {
    kind: "Export",
    name: `e-${name}`.slice(0, 60),
    pool: `pool-${name}`,
    source: stackSource(database, "call_log"),
    destination: {
      bucket,
      prefix: "out/",
      format: opts.format ?? "ndjson",
      chunk: { maxRows: opts.chunkRows ?? 10_000 },
    },
    partitioning: { targetRows: opts.targetRows ?? 20_000 },
    retry: { maxAttempts: 3, backoff: "1s" },
  };
  const specFile = join(dir, "export.json");
  writeFileSync(specFile, JSON.stringify(input));
  const store = new DynamoJobStore({ client: ddb, tableName, clock: opts.clock ?? systemClock });
  return {
    name,
    database,
    tableName,
    bucket,
    dir,
    specFile,
    spec: exportSpec.parse(input),
    store,
    s3,
    ddb,
    conn,
    async cleanup() {
      await dropFixture({ s3, bucket, ddb, tableName, conn, database, dir });
    },
  };
}

/** Removes what a test fixture made: its bucket, state table, database and temp directory; closes its clients. */
export async function dropFixture(f: {
  s3: S3Client;
  bucket: string;
  ddb: DynamoDBClient;
  tableName: string;
  conn: mysql.Connection;
  database: string;
  dir: string;
}): Promise<void> {
  await dropBucket(f.s3, f.bucket);
  await deleteStateTable(f.ddb, f.tableName).catch(() => {});
  // A reader cut mid-stream (spot notice, SIGKILL) can leave its query blocked writing to a socket nobody reads;
  // its metadata lock would hold DROP DATABASE until the server's net_write_timeout (60 s).
  const [left] = await f.conn.query("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", [f.database]);
  for (const { ID } of left as { ID: number }[]) await f.conn.query(`KILL CONNECTION ${Number(ID)}`).catch(() => {});
  await f.conn.query(`DROP DATABASE IF EXISTS \`${f.database}\``);
  await f.conn.end();
  f.ddb.destroy();
  f.s3.destroy();
  rmSync(f.dir, { recursive: true, force: true });
}
