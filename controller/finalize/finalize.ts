import { createHash } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  paginateListObjectsV2,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { ExportRecord } from "../../config/records.ts";
import type { Clock } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import type { ColumnSpec } from "../../lib/output/encode/index.ts";
import {
  CONSISTENCY_NOTE,
  MANIFEST_FORMAT,
  type Manifest,
  type ManifestPartition,
  manifestKey,
  successKey,
} from "../../lib/output/manifest.ts";
import { exportPrefix } from "../../lib/output/sink.ts";
import { putOutputObject } from "../../lib/output/sse.ts";
import { isNewer, LATEST_FORMAT, type LatestPointer, latestKey, readLatestPointer, writeLatestPointer } from "../query/latest.ts";

/**
 * Finalizes an export whose partitions are all DONE: checks every committed object is in S3 with its recorded size,
 * writes the manifest and then the success marker (readers look for the marker, then trust the manifest), deletes
 * orphan objects (fenced-off epochs, abandoned chunks) and aborts orphan multipart uploads under the export's prefix,
 * and marks the export SUCCEEDED. After the marker it points `<prefix><name>/_latest.json` at the manifest unless
 * that names a newer export (controller/query/latest.ts). Safe to re-run: every step is idempotent, and a finished
 * export is left as it is (its pointer is written again).
 */
export interface FinalizeDeps {
  store: JobStore;
  s3: S3Client;
  clock: Clock;
  /** The exported columns' types (from the source's field metadata), recorded as the manifest's schema. */
  schema: () => Promise<ColumnSpec[]>;
  log?: (line: string) => void;
  /**
   * Called with the complete manifest before anything is written: returns a section to add to it (a schedule's run:
   * watermark, drift, quality). Throwing FinalizeRejected fails the export (nothing is committed); any other error
   * leaves it FINALIZING, so finalizing can be re-run.
   */
  annotate?: (manifest: Manifest) => Promise<Manifest["run"]>;
}

/** The export must not be committed (e.g. a failing data-quality rule); it is marked FAILED with this message. */
export class FinalizeRejected extends Error {}

export interface FinalizeResult {
  manifestKey: string;
  rows: number;
  bytes: number;
  chunks: number;
  orphansDeleted: number;
  uploadsAborted: number;
}

export class FinalizeError extends Error {}

export async function finalizeExport(deps: FinalizeDeps, exportId: string): Promise<FinalizeResult> {
  const { store, s3 } = deps;
  const log = deps.log ?? (() => {});
  const record = await store.getExport(exportId);
  if (!record) throw new FinalizeError(`export ${exportId} not found`);
  const prefix = exportPrefix(record.spec.destination.prefix, exportId);
  const bucket = record.spec.destination.bucket;
  if (record.state === "SUCCEEDED" && record.manifestKey) {
    // The export is done whatever happens to its pointer: a failure here is logged, not thrown.
    await repointLatest(deps, record, record.manifestKey).catch((err) =>
      log(`export ${exportId}: latest pointer not written: ${describeError(err)}`),
    );
    return {
      manifestKey: record.manifestKey,
      rows: record.rowsExported,
      bytes: record.bytesExported,
      chunks: 0,
      orphansDeleted: 0,
      uploadsAborted: 0,
    };
  }
  if (record.state !== "RUNNING" && record.state !== "FINALIZING") {
    throw new FinalizeError(`export ${exportId} is ${record.state}; only a RUNNING export can be finalized`);
  }
  const progress = await store.progress(exportId);
  const notDone = progress.total.partitions - progress.byState.DONE.partitions;
  if (notDone > 0) {
    throw new FinalizeError(
      `export ${exportId} has ${notDone} partitions not DONE (${progress.byState.PENDING.partitions} pending, ` +
        `${progress.byState.LEASED.partitions} leased, ${progress.byState.QUARANTINED.partitions} quarantined)`,
    );
  }
  await store.setExportState(exportId, { from: ["RUNNING", "FINALIZING"], to: "FINALIZING" });

  const manifest = await buildManifest(deps, record, prefix);
  const listed = await listObjects(s3, bucket, `${prefix}data/`);
  const missing = manifest.partitions.flatMap((p) => p.chunks).filter((c) => listed.get(c.key) !== c.bytes);
  if (missing.length > 0) {
    const first = missing[0]!;
    const why = listed.has(first.key) ? `has ${listed.get(first.key)} bytes, expected ${first.bytes}` : "is missing";
    const error = `${missing.length} committed objects are missing or damaged in s3://${bucket}/ (e.g. ${first.key} ${why})`;
    await store.setExportState(exportId, { from: ["FINALIZING"], to: "FAILED", error });
    throw new FinalizeError(`finalizing export ${exportId}: ${error}`);
  }

  if (deps.annotate) {
    try {
      manifest.run = await deps.annotate(manifest);
    } catch (err) {
      if (!(err instanceof FinalizeRejected)) throw err;
      await store.setExportState(exportId, { from: ["FINALIZING"], to: "FAILED", error: err.message.slice(0, 1000) });
      throw err;
    }
  }
  const body = JSON.stringify(manifest);
  const mKey = manifestKey(prefix);
  const sse = record.spec.destination.sse;
  await putOutputObject(s3, { bucket, key: mKey, body, contentType: "application/json", sse });
  const sha256 = createHash("sha256").update(body).digest("hex");
  const marker = JSON.stringify({ manifest: mKey, sha256, ...manifest.totals });
  await putOutputObject(s3, { bucket, key: successKey(prefix), body: marker, sse });
  await writeLatestPointer({
    s3,
    destinationPrefix: record.spec.destination.prefix,
    name: record.spec.name,
    sse,
    pointer: pointerOf(record, manifest, mKey),
  });
  log(`export ${exportId}: manifest s3://${bucket}/${mKey} (${manifest.totals.chunks} objects, ${manifest.totals.rows} rows)`);

  const committed = new Set(manifest.partitions.flatMap((p) => p.chunks.map((c) => c.key)));
  const orphans = [...listed.keys()].filter((k) => !committed.has(k));
  for (let i = 0; i < orphans.length; i += 1000) {
    const batch = orphans.slice(i, i + 1000).map((Key) => ({ Key }));
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } }));
  }
  const uploadsAborted = await abortUploads(s3, bucket, prefix);
  if (orphans.length || uploadsAborted)
    log(`export ${exportId}: removed ${orphans.length} orphan objects, aborted ${uploadsAborted} uploads`);
  await store.setExportState(exportId, {
    from: ["FINALIZING"],
    to: "SUCCEEDED",
    manifestKey: mKey,
    rowsExported: manifest.totals.rows,
    bytesExported: manifest.totals.bytes,
  });
  return { manifestKey: mKey, ...manifest.totals, orphansDeleted: orphans.length, uploadsAborted };
}

function pointerOf(record: ExportRecord, manifest: Manifest, mKey: string): LatestPointer {
  return {
    pointer: LATEST_FORMAT,
    exportId: record.exportId,
    bucket: manifest.bucket,
    manifest: mKey,
    committedAt: manifest.createdAt,
    plannedAt: record.createdAt,
    rows: manifest.totals.rows,
    format: record.spec.destination.format,
  };
}

/**
 * A re-run on a SUCCEEDED export writes the pointer again, with the same bytes: from the pointer itself when it
 * already names this export, else from the manifest (an export finalized before pointers existed, or a deleted one).
 */
async function repointLatest(deps: FinalizeDeps, record: ExportRecord, mKey: string): Promise<void> {
  const { bucket, prefix, sse } = record.spec.destination;
  const current = await readLatestPointer(deps.s3, bucket, latestKey(prefix, record.spec.name));
  if (current && current.exportId !== record.exportId && isNewer(current, { plannedAt: record.createdAt, exportId: record.exportId }))
    return;
  const pointer = current?.exportId === record.exportId ? current : pointerOf(record, await readManifest(deps.s3, bucket, mKey), mKey);
  await writeLatestPointer({ s3: deps.s3, destinationPrefix: prefix, name: record.spec.name, sse, pointer });
}

async function buildManifest(deps: FinalizeDeps, record: ExportRecord, prefix: string): Promise<Manifest> {
  const partitions: ManifestPartition[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await deps.store.listPartitions(record.exportId, { after, limit: 500 });
    for (const p of page.items) {
      const chunks: ManifestPartition["chunks"] = [];
      let afterSeq: number | undefined;
      for (;;) {
        const cp = await deps.store.listChunks(record.exportId, p.partition, { after: afterSeq, limit: 1000 });
        for (const c of cp.items) {
          chunks.push({
            key: c.key,
            seq: c.seq,
            epoch: c.epoch,
            rows: c.rows,
            bytes: c.bytes,
            sha256: c.sha256,
            firstKey: c.firstKey,
            lastKey: c.lastKey,
          });
        }
        if (cp.next === null) break;
        afterSeq = cp.next;
      }
      partitions.push({ partition: p.partition, lo: p.lo, hi: p.hi, rows: p.rows, bytes: p.bytes, chunks });
    }
    if (page.next === null) break;
    after = page.next;
  }
  const sum = (f: (p: ManifestPartition) => number) => partitions.reduce((a, p) => a + f(p), 0);
  return {
    format: MANIFEST_FORMAT,
    exportId: record.exportId,
    createdAt: new Date(deps.clock.now()).toISOString(),
    spec: record.spec,
    bucket: record.spec.destination.bucket,
    prefix,
    keyColumns: record.keyColumns,
    lowKey: record.lowKey,
    highWatermark: record.highWatermark,
    schema: await deps.schema(),
    consistency: { snapshot: "per-chunk", sourcePosition: record.sourcePosition ?? null, handoff: CONSISTENCY_NOTE },
    totals: { partitions: partitions.length, chunks: sum((p) => p.chunks.length), rows: sum((p) => p.rows), bytes: sum((p) => p.bytes) },
    partitions,
  };
}

/** Aborts every multipart upload under a prefix (the SDK has no paginator for this listing). */
export async function abortUploads(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  let aborted = 0;
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  for (;;) {
    const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker, UploadIdMarker }));
    for (const u of page.Uploads ?? []) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }));
      aborted++;
    }
    if (!page.IsTruncated) return aborted;
    KeyMarker = page.NextKeyMarker;
    UploadIdMarker = page.NextUploadIdMarker;
  }
}

/** Every object under a prefix with its size. */
async function listObjects(s3: S3Client, bucket: string, prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
    for (const o of page.Contents ?? []) out.set(o.Key!, o.Size ?? 0);
  }
  return out;
}

export async function readManifest(s3: S3Client, bucket: string, key: string): Promise<Manifest> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const manifest = JSON.parse(await res.Body!.transformToString()) as Manifest;
  if (manifest.format !== MANIFEST_FORMAT) throw new Error(`s3://${bucket}/${key} is not a ${MANIFEST_FORMAT} manifest`);
  return manifest;
}
