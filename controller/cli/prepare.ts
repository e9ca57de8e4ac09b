import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand, HeadBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { ExportRecord } from "../../config/records.ts";
import { systemClock } from "../../lib/clock.ts";
import { checkLayout } from "../../lib/dynamo/layout.ts";
import { ensureStateTable } from "../../lib/dynamo/table.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import type { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { type ExportPlan, planExport, toNewExport } from "../planner/plan.ts";

/**
 * The order every writing command follows: read and check all input (files, flags, the secret, the source's
 * schema and the plan), and only then create the state table, the bucket and the export. A command refused on its
 * input leaves nothing behind. The table's layout may still be brought up to date before planning, since reading an
 * existing export comes first; that touches only a table that was already there.
 */

/** Reading the layout item (without migrating) is how a CLI module, which never loads the SDK, asks. */
export async function stateTableExists(client: DynamoDBClient, tableName: string): Promise<boolean> {
  try {
    await checkLayout({ client, tableName, clock: systemClock, migrate: false });
    return true;
  } catch (err) {
    if (causedBy(err, "ResourceNotFoundException")) return false;
    throw err;
  }
}

function causedBy(err: unknown, name: string): boolean {
  for (let e: unknown = err, i = 0; e && i < 8; i++) {
    if ((e as { name?: string }).name === name) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Whether the bucket must be created; refuses (exit 2) when it is missing and may not be. Writes nothing. */
export async function checkBucket(s3: S3Client, bucket: string, create: boolean): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return false;
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status !== 404) throw new Error(`checking bucket ${bucket}`, { cause: err });
    if (!create)
      throw new UserError(`destination bucket ${bucket} does not exist; create it or pass --create-bucket`, { exitCode: ExitCode.usage });
    return true;
  }
}

export async function createBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (cause) {
    throw new Error(`creating bucket ${bucket}`, { cause });
  }
}

/** An export found by id, or the plan to create it with (a PLANNING export, left by a crashed create, is planned again). */
export type Prepared = { existing: ExportRecord } | { exportId: string; plan: ExportPlan };

/** Finds the export or plans it; writes nothing (the state table is only read, and only if it exists). */
export async function prepareExport(o: {
  client: DynamoDBClient;
  store: DynamoJobStore;
  tableName: string;
  spec: ExportSpec;
  exportId: string;
  onProgress?: (boundaries: number) => void;
  /** Partitions that will be worked on at once (planExport's minPartitions). */
  minPartitions?: number;
}): Promise<Prepared> {
  if (await stateTableExists(o.client, o.tableName)) {
    await ensureStateTable(o.client, o.tableName);
    const existing = await o.store.getExport(o.exportId);
    if (existing && existing.state !== "PLANNING") return { existing };
  }
  const conn = await openSource(o.spec.source);
  try {
    return {
      exportId: o.exportId,
      plan: await planExport(o.spec, { conn, clock: systemClock, onProgress: o.onProgress, minPartitions: o.minPartitions }),
    };
  } finally {
    await conn.end().catch(() => {});
  }
}

/** Creates the state table (if absent) and the export of a prepared plan; the result of createExport. */
export async function commitExport(o: {
  client: DynamoDBClient;
  store: DynamoJobStore;
  tableName: string;
  spec: ExportSpec;
  plan: ExportPlan;
  exportId: string;
}) {
  await ensureStateTable(o.client, o.tableName);
  return o.store.createExport(toNewExport(o.exportId, o.spec, o.plan));
}
