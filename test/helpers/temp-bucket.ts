import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, paginateListObjectsV2, type S3Client } from "@aws-sdk/client-s3";
import { abortUploads } from "../../controller/finalize/finalize.ts";
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
      await dropBucket(s3, bucket);
      s3.destroy();
    },
  };
}

/** Empties a test's bucket (objects and unfinished multipart uploads) and deletes it. */
export async function dropBucket(s3: S3Client, bucket: string): Promise<void> {
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket })) {
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key ?? "" }));
    if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
  await abortUploads(s3, bucket, "");
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
}
