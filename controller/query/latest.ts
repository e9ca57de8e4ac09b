import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SseSpec } from "../../config/export-spec.ts";
import { putOutputObject } from "../../lib/output/sse.ts";

/**
 * The stable "latest export of this spec" pointer: `<prefix><name>/_latest.json`, one small object naming the newest
 * committed manifest of the spec name, written with a single PUT after the manifest (and its _SUCCESS marker).
 *
 * Newest means planned last: exports are ordered by their record's `createdAt` (plan time), ties by export id. A
 * finalize compares its export with the pointer it reads and does not write when the pointer already names a newer
 * export, so an old export finalizing late never moves the pointer back. Two finalizes of the same name racing within
 * one read-then-PUT can still leave the older one (S3 has no compare-and-set that Swift's s3api honours); the next
 * finalize of the name, or a re-run of the newer one, puts it right.
 */
export const LATEST_FORMAT = "spotferry-latest/v1";

export interface LatestPointer {
  pointer: typeof LATEST_FORMAT;
  exportId: string;
  bucket: string;
  /** The manifest's object key in `bucket`. */
  manifest: string;
  /** When the manifest was committed (the manifest's createdAt). */
  committedAt: string;
  /** The export's plan time (its record's createdAt): what "newest" is decided by. */
  plannedAt: string;
  rows: number;
  format: string;
}

/** Where the pointer of a spec name lives: the destination prefix (normalised as exportPrefix does) plus the name. */
export function latestKey(destinationPrefix: string, name: string): string {
  const p = destinationPrefix === "" || destinationPrefix.endsWith("/") ? destinationPrefix : `${destinationPrefix}/`;
  return `${p}${name}/_latest.json`;
}

/** True when `a` is the newer export of the two (plan time, then export id). */
export function isNewer(a: Pick<LatestPointer, "plannedAt" | "exportId">, b: Pick<LatestPointer, "plannedAt" | "exportId">): boolean {
  if (a.plannedAt !== b.plannedAt) return a.plannedAt > b.plannedAt;
  return a.exportId > b.exportId;
}

/** The pointer at `key`, or null when there is none (or it is not one). */
export async function readLatestPointer(s3: S3Client, bucket: string, key: string): Promise<LatestPointer | null> {
  let text: string;
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = await res.Body!.transformToString();
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === "NoSuchKey" || name === "NotFound") return null;
    throw new Error(`reading s3://${bucket}/${key}`, { cause: err });
  }
  try {
    const parsed = JSON.parse(text) as LatestPointer;
    return parsed.pointer === LATEST_FORMAT ? parsed : null;
  } catch {
    return null;
  }
}

export interface PointerWrite {
  s3: S3Client;
  destinationPrefix: string;
  name: string;
  pointer: LatestPointer;
  sse?: SseSpec;
}

/**
 * Writes the pointer unless it already names a newer export; the same export is written again (same bytes), so a
 * re-run is idempotent. Returns what it did.
 */
export async function writeLatestPointer(w: PointerWrite): Promise<"written" | "newer-kept"> {
  const key = latestKey(w.destinationPrefix, w.name);
  const current = await readLatestPointer(w.s3, w.pointer.bucket, key);
  if (current && current.exportId !== w.pointer.exportId && isNewer(current, w.pointer)) return "newer-kept";
  await putOutputObject(w.s3, {
    bucket: w.pointer.bucket,
    key,
    body: `${JSON.stringify(w.pointer)}\n`,
    contentType: "application/json",
    sse: w.sse,
  });
  return "written";
}
