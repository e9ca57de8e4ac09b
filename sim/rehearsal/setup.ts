import { CreateBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import mysql from "mysql2/promise";
import { type ExportSpec, exportSpec } from "../../config/export-spec.ts";
import { type PoolSpec, poolSpec } from "../../config/pool-spec.ts";
import type { ExportRecord } from "../../config/records.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import type { FleetStore } from "../../controller/store/fleet-store.ts";
import type { Clock } from "../../lib/clock.ts";
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

/** The pool the rehearsal applies: diversified over several types and subnets, price-capacity-optimized. */
export function rehearsalPool(names: RehearsalNames, opts: PoolOptions): PoolSpec {
  return poolSpec.parse({
    kind: "Pool",
    name: names.pool,
    instanceTypes: opts.instanceTypes,
    subnets: opts.subnets,
    imageId: "ami-0sim000000000000",
    capacity: { min: 0, max: opts.maxNodes },
    allocationStrategy: "price-capacity-optimized",
    bootTimeout: opts.bootTimeout ?? 300,
    drainTimeout: opts.drainTimeout ?? 120,
    disruptionBudget: { maxUnavailable: 1 },
    tags: { purpose: "rehearsal" },
  });
}

export function rehearsalExportSpec(env: Record<string, string | undefined>, names: RehearsalNames, data: DataOptions): ExportSpec {
  return exportSpec.parse({
    kind: "Export",
    name: names.exportName,
    pool: names.pool,
    source: {
      ...stackSource(env),
      password: { env: "SPOTFERRY_MYSQL_PASSWORD" },
      database: names.database,
      table: names.table,
      ...(data.maxRowsPerSecond ? { maxRowsPerSecond: data.maxRowsPerSecond } : {}),
    },
    destination: { bucket: names.bucket, prefix: "call-log/", format: data.format, chunk: { maxRows: data.chunkRows } },
    partitioning: { targetRows: data.targetRows },
    retry: { maxAttempts: 5, backoff: "2s" },
  });
}

/** What `spotferry export plan` does: cut the table through its index and record the partitions (idempotent). */
export async function planRehearsalExport(
  deps: { jobs: JobStore; clock: Clock; env: Record<string, string | undefined> },
  spec: ExportSpec,
): Promise<{ record: ExportRecord; partitions: number; ms: number }> {
  const started = Date.now();
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
