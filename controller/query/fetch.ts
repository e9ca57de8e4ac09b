import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Manifest } from "../../lib/output/manifest.ts";
import { hashingStream } from "../../lib/output/sink.ts";

/**
 * Local copies of exactly the manifest's objects, each checked against the manifest's size and SHA-256 on the way
 * in (DuckDB's httpfs cannot be installed here, and a copy that is not the committed object must not be queried).
 * `cleanup()` removes the directory; callers run it in a finally.
 */
export interface LocalCopy {
  dir: string;
  /** Object key -> local path. */
  paths: Map<string, string>;
  bytes: number;
  cleanup(): void;
}

export class ObjectMismatch extends Error {}

export async function downloadObjects(s3: S3Client, manifest: Manifest, opts: { concurrency?: number } = {}): Promise<LocalCopy> {
  const dir = mkdtempSync(join(tmpdir(), "spotferry-query-"));
  const copy: LocalCopy = { dir, paths: new Map(), bytes: 0, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  const chunks = manifest.partitions.flatMap((p) => p.chunks);
  try {
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const c = chunks[next++]!;
        // part-000001/chunk-000002-e1.parquet -> part-000001_chunk-000002-e1.parquet: the extension tells DuckDB the compression.
        const path = join(dir, c.key.slice(`${manifest.prefix}data/`.length).replace(/\//g, "_") || `object-${next}`);
        await fetchOne(s3, manifest.bucket, c, path);
        copy.paths.set(c.key, path);
        copy.bytes += c.bytes;
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, chunks.length) }, worker));
    return copy;
  } catch (err) {
    copy.cleanup();
    throw err;
  }
}

async function fetchOne(s3: S3Client, bucket: string, c: { key: string; bytes: number; sha256: string }, path: string): Promise<void> {
  const { stream: hashing, digest } = hashingStream();
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: c.key }));
    await pipeline(res.Body as NodeJS.ReadableStream, hashing, createWriteStream(path));
  } catch (cause) {
    throw new Error(`downloading s3://${bucket}/${c.key}`, { cause });
  }
  const { bytes, sha256 } = digest();
  if (bytes !== c.bytes || sha256 !== c.sha256) {
    throw new ObjectMismatch(
      `s3://${bucket}/${c.key} is not the committed object: ${bytes} bytes, sha256 ${sha256}; the manifest says ${c.bytes} bytes, sha256 ${c.sha256}`,
    );
  }
}
