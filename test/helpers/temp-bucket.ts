import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, paginateListObjectsV2, type S3Client } from "@aws-sdk/client-s3";
import { s3Client } from "../../lib/aws/s3.ts";
import { requireEnv, uniqueName } from "./env.ts";

/** A bucket of its own for one test file on the local object store; drop() empties and removes it. */
export async function tempBucket(prefix: string): Promise<{ s3: S3Client; bucket: string; drop(): Promise<void> }> {
  requireEnv("AWS_ENDPOINT_URL_S3");
  const s3 = s3Client();
  const bucket = uniqueName(prefix).toLowerCase();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    s3,
    bucket,
    async drop() {
      for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket })) {
        const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key ?? "" }));
        if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
      }
      await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
      s3.destroy();
    },
  };
}
