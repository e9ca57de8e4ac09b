import { PutObjectCommand, type S3Client, type ServerSideEncryption } from "@aws-sdk/client-s3";
import type { SseSpec } from "../../config/export-spec.ts";

/**
 * The request parameters of `destination.sse`, for PutObject and CreateMultipartUpload alike (UploadPart and
 * CompleteMultipartUpload take none: S3 keeps the upload's encryption). Without sse nothing is sent, so the
 * bucket's default encryption applies.
 */
export interface SseParams {
  ServerSideEncryption?: ServerSideEncryption;
  SSEKMSKeyId?: string;
}

export function sseParams(sse: SseSpec | undefined): SseParams {
  if (!sse) return {};
  if (sse.type === "SSE-S3") return { ServerSideEncryption: "AES256" };
  return { ServerSideEncryption: "aws:kms", SSEKMSKeyId: sse.kmsKeyId };
}

/** One small output object (a manifest, a marker, a run section), encrypted as the destination says. */
export async function putOutputObject(
  s3: S3Client,
  opts: { bucket: string; key: string; body: string; contentType?: string; sse?: SseSpec },
): Promise<void> {
  const { bucket, key, body, contentType, sse } = opts;
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType, ...sseParams(sse) }));
  } catch (cause) {
    throw new Error(`writing s3://${bucket}/${key}`, { cause });
  }
}
