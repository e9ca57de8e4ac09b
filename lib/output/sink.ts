import { createHash } from "node:crypto";
import { type Readable, Transform } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { SseSpec } from "../../config/export-spec.ts";
import { sseParams } from "./sse.ts";

/**
 * Writes one chunk object to S3 as a multipart upload fed by the encoder's output stream. Memory is bounded by
 * queueSize x partSize; the stream's backpressure reaches the encoder and from there the source socket. The SHA-256
 * of the bytes is computed on the way through. A failed or abandoned upload is aborted (never left as an orphan
 * multipart upload): lib-storage aborts on failure, and `abort()` aborts explicitly.
 */
export interface ChunkUpload {
  readonly key: string;
  /** Resolves with the object's size and hex SHA-256 once S3 has it. */
  done(): Promise<{ bytes: number; sha256: string }>;
  abort(): Promise<void>;
}

export interface SinkOptions {
  bucket: string;
  partSize?: number;
  queueSize?: number;
  /** destination.sse: sent on the upload's CreateMultipartUpload (or its single PutObject). */
  sse?: SseSpec;
}

export const MIN_PART_SIZE = 5 * 1024 * 1024;

/** A pass-through that counts and hashes what flows through it; `digest()` once it has ended. */
export function hashingStream(): { stream: Transform; digest(): { bytes: number; sha256: string } } {
  const hash = createHash("sha256");
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, digest: () => ({ bytes, sha256: hash.digest("hex") }) };
}

export function startChunkUpload(s3: S3Client, key: string, body: Readable, contentType: string, opts: SinkOptions): ChunkUpload {
  const { stream: hashing, digest } = hashingStream();
  body.on("error", (err) => hashing.destroy(err));
  body.pipe(hashing);
  const upload = new Upload({
    client: s3,
    params: { Bucket: opts.bucket, Key: key, Body: hashing, ContentType: contentType, ...sseParams(opts.sse) },
    partSize: Math.max(MIN_PART_SIZE, opts.partSize ?? 8 * 1024 * 1024),
    queueSize: opts.queueSize ?? 2,
    leavePartsOnError: false,
  });
  const finished = upload.done().then(digest);
  // done() is awaited by the caller; keep an early rejection from surfacing as unhandled meanwhile.
  finished.catch(() => {});
  return {
    key,
    done: () => finished.catch((cause) => Promise.reject(new Error(`uploading chunk s3://${opts.bucket}/${key}`, { cause }))),
    abort: async () => {
      hashing.destroy();
      await upload.abort().catch(() => {});
      await finished.catch(() => {});
    },
  };
}

/** Deterministic chunk names: a retry of the same (partition, seq, epoch) overwrites its own object, nothing else. */
export function chunkKey(exportPrefix: string, partition: number, seq: number, epoch: number, extension: string): string {
  return `${exportPrefix}data/part-${String(partition).padStart(6, "0")}/chunk-${String(seq).padStart(6, "0")}-e${epoch}${extension}`;
}

/** Where an export's objects live: the spec's prefix plus the export id, so exports never share objects. */
export function exportPrefix(prefix: string, exportId: string): string {
  const p = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  return `${p}${exportId}/`;
}
