import { DeleteBucketCommand, DeleteObjectsCommand, paginateListObjectsV2 } from "@aws-sdk/client-s3";
import mysql from "mysql2/promise";
import { abortUploads } from "../../controller/finalize/finalize.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { deleteStateTable } from "../../lib/dynamo/table.ts";
import { rehearsalMysqlUser } from "../../sim/rehearsal/identity.ts";
import type { RehearsalNames } from "../../sim/rehearsal/setup.ts";
import { mysqlOptions, uniqueName } from "./env.ts";

/** Names a test's rehearsal (or chaos run) owns alone: its database, state table, buckets, pool and export. */
export function rehearsalTestNames(prefix: string): RehearsalNames {
  const id = uniqueName(prefix).replace(/-/g, "");
  return {
    database: `sf_${id}`,
    table: "call_log",
    stateTable: `t-${id}`,
    bucket: `b-${id}`.toLowerCase(),
    artifactBucket: `a-${id}`.toLowerCase(),
    pool: `p${id}`.toLowerCase().slice(0, 40),
    exportName: `${prefix}-${id}`.slice(0, 50),
  };
}

/** Removes everything a rehearsal (or a chaos run) made on the stack: both buckets, the state table, the database, its user. */
export async function dropRehearsalState(names: RehearsalNames): Promise<void> {
  const s3 = s3Client();
  const ddb = dynamoClient();
  const conn = await mysql.createConnection(mysqlOptions());
  try {
    for (const bucket of [names.bucket, names.artifactBucket]) {
      for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket })) {
        const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key ?? "" }));
        if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
      }
      await abortUploads(s3, bucket, "").catch(() => 0);
      await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
    }
    await deleteStateTable(ddb, names.stateTable).catch(() => {});
    await conn.query(`DROP DATABASE IF EXISTS \`${names.database}\``);
    await conn.query("DROP USER IF EXISTS ?@'%'", [rehearsalMysqlUser(names)]);
  } finally {
    await conn.end();
    s3.destroy();
    ddb.destroy();
  }
}
