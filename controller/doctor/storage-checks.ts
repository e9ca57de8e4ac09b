import { HeadBucketCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { s3Client } from "../../lib/aws/s3.ts";
import { systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { checkLayout, STATE_LAYOUT } from "../../lib/dynamo/layout.ts";
import { describeStateTable } from "../../lib/dynamo/table.ts";
import { awsError, type Check, type CheckContext, type CheckResult, errName, fail, ok, skip } from "./types.ts";

/**
 * The state table (DescribeTable: exists, ACTIVE, the keys and index lib/dynamo/table.ts creates; the layout version
 * read without migrating) and the buckets: the artifact bucket and every export's destination (HeadBucket, or a
 * one-key ListObjectsV2 under the prefix when HeadBucket is refused). Nothing is written.
 */
export const stateTableCheck: Check = {
  name: "state table",
  async run(ctx) {
    const table = ctx.input.settings.stateTable;
    const name = `state table ${table}`;
    const client = dynamoClient(ctx.env);
    try {
      const shape = await describeStateTable(client, table, ctx.signal);
      if (!shape) {
        return [
          fail(
            name,
            `does not exist in ${ctx.region}: create it from the deploy template, or let the first \`export plan\` create it ` +
              "(dynamodb:CreateTable)",
          ),
        ];
      }
      if (shape.status !== "ACTIVE") return [fail(name, `is ${shape.status}, not ACTIVE: wait for it, then run doctor again`)];
      if (shape.problems.length) {
        return [fail(name, `is not a spotferry state table: ${shape.problems.join("; ")}; use another name or recreate it`)];
      }
      const layout = await checkLayout({ client, tableName: table, clock: systemClock, migrate: false });
      const note = layout < STATE_LAYOUT ? ` (the controller migrates it to ${STATE_LAYOUT} when it starts)` : "";
      return [ok(name, `ACTIVE, keys and index as spotferry creates them, layout ${layout}${note}`)];
    } catch (err) {
      return [fail(name, `cannot be read: ${awsError(err)}`)];
    } finally {
      client.destroy();
    }
  },
};

async function bucketResult(ctx: CheckContext, s3: S3Client, o: { name: string; bucket: string; prefix: string }): Promise<CheckResult> {
  const where = `s3://${o.bucket}/${o.prefix}`;
  const missing = () =>
    fail(o.name, `bucket ${o.bucket} does not exist (or is in another account): create it in ${ctx.region}, or fix the config`);
  try {
    await s3.send(new HeadBucketCommand({ Bucket: o.bucket }), { abortSignal: ctx.signal });
    return ok(o.name, `${where} exists`);
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (errName(err) === "NotFound" || errName(err) === "NoSuchBucket" || status === 404) return missing();
    if (status !== 403) return fail(o.name, `HeadBucket ${o.bucket} failed: ${awsError(err)}`);
  }
  // HeadBucket needs s3:ListBucket without a prefix condition; the policies grant it under the prefix only.
  try {
    await s3.send(new ListObjectsV2Command({ Bucket: o.bucket, Prefix: o.prefix, MaxKeys: 1 }), { abortSignal: ctx.signal });
    return ok(o.name, `${where} exists (listed under the prefix; HeadBucket is not allowed)`);
  } catch (err) {
    if (errName(err) === "NoSuchBucket") return missing();
    return fail(o.name, `cannot list ${where}: ${awsError(err)}; grant s3:ListBucket on arn:aws:s3:::${o.bucket} for this prefix`);
  }
}

export const bucketsCheck: Check = {
  name: "buckets",
  async run(ctx) {
    const s3 = s3Client(ctx.env);
    try {
      const targets: { name: string; bucket: string; prefix: string }[] = [];
      const artifacts = ctx.input.settings.artifactBucket;
      if (artifacts) targets.push({ name: `artifact bucket ${artifacts}`, bucket: artifacts, prefix: "spotferry/" });
      const seen = new Set<string>();
      for (const e of ctx.input.exports) {
        const { bucket, prefix } = e.destination;
        if (seen.has(`${bucket}/${prefix}`)) continue;
        seen.add(`${bucket}/${prefix}`);
        targets.push({ name: `destination ${e.name}`, bucket, prefix });
      }
      const results = await Promise.all(targets.map((t) => bucketResult(ctx, s3, t)));
      if (!artifacts)
        results.unshift(skip("artifact bucket", "no artifactBucket in the ControllerSettings (nodes need the bundle from S3)"));
      return results;
    } finally {
      s3.destroy();
    }
  },
};
