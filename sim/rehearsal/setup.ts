import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import mysql from "mysql2/promise";
import { type ExportSpec, exportSpec } from "../../config/export-spec.ts";
import { type PoolSpec, poolSpec } from "../../config/pool-spec.ts";
import type { ExportRecord } from "../../config/records.ts";
import { type ControllerSettings, controllerSettings } from "../../config/settings.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import type { FleetStore } from "../../controller/store/fleet-store.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import type { Clock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { createStateTable, ensureStateTable } from "../../lib/dynamo/table.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { createCallLog } from "../data/call-log.ts";

/** Everything a rehearsal creates, by name; the caller picks them so a test can own and remove its own. */
export interface RehearsalNames {
  database: string;
  table: string;
  stateTable: string;
  /** Destination of the export. */
  bucket: string;
  /** Where the controller publishes the agent bundle. */
  artifactBucket: string;
  pool: string;
  exportName: string;
}

export interface DataOptions {
  rows: number;
  format: "parquet" | "ndjson" | "csv";
  chunkRows: number;
  targetRows: number;
  /** Per-agent read cap (source.maxRowsPerSecond): stretches a small table over enough time to interrupt it. */
  maxRowsPerSecond?: number;
  /** Skip seeding when the table already has exactly `rows` rows (re-running the demo). */
  reuseTable?: boolean;
}

export interface PoolOptions {
  maxNodes: number;
  instanceTypes: string[];
  subnets: string[];
  /** Sim seconds: boot and drain limits. */
  bootTimeout?: number;
  drainTimeout?: number;
}

/** The MySQL connection settings of the local stack (SPOTFERRY_MYSQL_*; the password stays in the environment). */
export function stackSource(env: Record<string, string | undefined>) {
  const host = env.SPOTFERRY_MYSQL_HOST;
  const port = Number(env.SPOTFERRY_MYSQL_PORT);
  const user = env.SPOTFERRY_MYSQL_USER;
  if (!host || !port || !user || env.SPOTFERRY_MYSQL_PASSWORD === undefined) {
    throw new Error(
      "the rehearsal needs SPOTFERRY_MYSQL_HOST/_PORT/_USER/_PASSWORD (run `spotferry local up` and load .spotferry/local.env)",
    );
  }
  return { host, port, user };
}

/** Seeds the call-log table (sparse ids up to 2^64-1, skewed customers) unless an identical one is there already. */
export async function seedCallLog(
  env: Record<string, string | undefined>,
  names: RehearsalNames,
  data: DataOptions,
  log: (line: string) => void,
): Promise<{ seeded: boolean; ms: number }> {
  const started = Date.now();
  const conn = await mysql.createConnection({ ...stackSource(env), password: env.SPOTFERRY_MYSQL_PASSWORD });
  try {
    if (data.reuseTable) {
      const [rows] = await conn
        .query(`SELECT COUNT(*) AS n FROM \`${names.database}\`.\`${names.table}\``)
        .catch(() => [[{ n: -1 }]] as unknown as [unknown]);
      // A table seeded before call_log had updated_at (incremental schedules need it) is seeded again.
      const [cols] = await conn.query(
        "SELECT COUNT(*) AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = 'updated_at'",
        [names.database, names.table],
      );
      const current = Number((cols as { n: number }[])[0]?.n) === 1;
      if (current && Number((rows as { n: number }[])[0]?.n) === data.rows) {
        log(`${names.database}.${names.table} already holds ${data.rows.toLocaleString("en-US")} rows; reusing it`);
        return { seeded: false, ms: Date.now() - started };
      }
    }
    let shown = 0;
    await createCallLog(conn, {
      database: names.database,
      table: names.table,
      rows: data.rows,
      onProgress: (done) => {
        if (done - shown >= 500_000 || done === data.rows)
          log(`seeding ${names.database}.${names.table}: ${done.toLocaleString("en-US")} rows`);
        shown = done;
      },
    });
    return { seeded: true, ms: Date.now() - started };
  } catch (cause) {
    throw new Error(`seeding ${names.database}.${names.table} with ${data.rows} rows`, { cause });
  } finally {
    await conn.end().catch(() => {});
  }
}

/** Creates a bucket; one that exists already (ours) is fine. */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name ?? "";
    if (name === "BucketAlreadyOwnedByYou" || name === "BucketAlreadyExists") return;
    throw new Error(`creating bucket ${bucket}`, { cause: err });
  }
}

/** What the operator creates before the first export, with the operator's own keys: the state table and the buckets. */
export async function setUpAsOperator(adminEnv: Record<string, string | undefined>, names: RehearsalNames): Promise<void> {
  const ddb = dynamoClient(adminEnv);
  const s3 = s3Client(adminEnv);
  try {
    await createStateTable(ddb, names.stateTable);
    await Promise.all([ensureBucket(s3, names.bucket), ensureBucket(s3, names.artifactBucket)]);
  } finally {
    ddb.destroy();
    s3.destroy();
  }
}

/** The pool the rehearsal applies: diversified over several types and subnets, price-capacity-optimized. */
export function rehearsalPool(o: { names: RehearsalNames; pool: PoolOptions; instanceProfileArn: string }): PoolSpec {
  return poolSpec.parse({
    kind: "Pool",
    name: o.names.pool,
    instanceTypes: o.pool.instanceTypes,
    subnets: o.pool.subnets,
    imageId: "ami-0sim000000000000",
    instanceProfileArn: o.instanceProfileArn,
    capacity: { min: 0, max: o.pool.maxNodes },
    allocationStrategy: "price-capacity-optimized",
    bootTimeout: o.pool.bootTimeout ?? 300,
    drainTimeout: o.pool.drainTimeout ?? 120,
    disruptionBudget: { maxUnavailable: 1 },
    tags: { purpose: "rehearsal" },
  });
}

/**
 * The export as a user would write it for RDS: the rehearsal's SELECT-only user, its password from Secrets Manager,
 * TLS verified against the stack's CA with the host name checked.
 */
export function rehearsalExportSpec(o: {
  env: Record<string, string | undefined>;
  names: RehearsalNames;
  data: DataOptions;
  login: { user: string; secretArn: string };
}): ExportSpec {
  const { env, names, data } = o;
  const ca = env.SPOTFERRY_MYSQL_CA;
  if (!ca) throw new Error("the rehearsal needs SPOTFERRY_MYSQL_CA, the local MariaDB's CA (run `spotferry local up`)");
  return exportSpec.parse({
    kind: "Export",
    name: names.exportName,
    pool: names.pool,
    source: {
      ...stackSource(env),
      user: o.login.user,
      password: { secretArn: o.login.secretArn },
      tls: { mode: "verify-full", caFile: ca },
      database: names.database,
      table: names.table,
      ...(data.maxRowsPerSecond ? { maxRowsPerSecond: data.maxRowsPerSecond } : {}),
    },
    destination: { bucket: names.bucket, prefix: "call-log/", format: data.format, chunk: { maxRows: data.chunkRows } },
    partitioning: { targetRows: data.targetRows },
    retry: { maxAttempts: 5, backoff: "2s" },
  });
}

/** The controller's settings: short leases and timeouts, so faults are noticed within the rehearsal's minutes. */
export function rehearsalSettings(names: RehearsalNames, overrides: Record<string, unknown> = {}): ControllerSettings {
  return controllerSettings.parse({
    stateTable: names.stateTable,
    artifactBucket: names.artifactBucket,
    leaderLease: 10,
    partitionLease: 20,
    clockSkewMargin: 2,
    heartbeatTimeout: 30,
    orphanGrace: 60,
    capacityErrorMemory: 60,
    bundleUrlLifetime: 900,
    splitMinRows: 1,
    nodeAgent: { partitionLease: 20, heartbeatInterval: 4, idleExitAfter: 900, imdsPollInterval: 1 },
    ...overrides,
  });
}

/** What `spotferry export plan` does: cut the table through its index and record the partitions (idempotent). */
export async function planRehearsalExport(
  deps: { jobs: JobStore; clock: Clock; env: Record<string, string | undefined>; ddb: DynamoDBClient; stateTable: string },
  spec: ExportSpec,
): Promise<{ record: ExportRecord; partitions: number; ms: number }> {
  const started = Date.now();
  // As `export plan` does: the state table must exist in this release's layout before anything is written.
  await ensureStateTable(deps.ddb, deps.stateTable);
  const conn = await openSource(spec.source, deps.env);
  try {
    const plan = await planExport(spec, { conn, clock: deps.clock });
    const result = await deps.jobs.createExport(toNewExport(exportIdFor(spec), spec, plan));
    return { record: result.export, partitions: plan.partitions.length, ms: Date.now() - started };
  } catch (cause) {
    throw new Error(`planning the rehearsal export of ${spec.source.database}.${spec.source.table}`, { cause });
  } finally {
    await conn.end().catch(() => {});
  }
}

/** What `spotferry pool apply` does. */
export async function applyRehearsalPool(fleet: FleetStore, spec: PoolSpec): Promise<void> {
  await fleet.applyPool(spec);
}
