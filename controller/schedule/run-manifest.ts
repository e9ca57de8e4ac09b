import { DeleteObjectsCommand, paginateListObjectsV2, type S3Client } from "@aws-sdk/client-s3";
import type { ExportSpec, SseSpec } from "../../config/export-spec.ts";
import type { KeyColumn } from "../../config/records.ts";
import { column, type TableInfo } from "../../lib/mysql/schema.ts";
import { putOutputObject } from "../../lib/output/sse.ts";
import { abortUploads } from "../finalize/finalize.ts";
import type { QualityResult, RunRecord } from "../store/schedule-store.ts";

/**
 * The `run` section of a run's manifest, and the reader's contract for a schedule's output.
 *
 * A schedule's committed runs together are the table's change log: `<prefix><name>/run=<runAt>/_manifest.json`, one
 * per run, each listing its objects. Every row version is in exactly one run, because runs read disjoint watermark
 * ranges (lo, hi] and a range is committed once (the watermark moves only with the commit). In updated-at mode a row
 * updated in place appears again in a later run with a newer stamp; readers reconstruct the table by keeping, per
 * `dedupeKey`, the row from the run with the highest `seq` (equivalently the greatest `versionColumn`; within one run
 * a key appears at most once, which the distinct rule checks). In id mode rows are never repeated.
 * Directories without `_SUCCESS` (a failed attempt being cleaned up) are not part of the output.
 */
export const RUN_READER_RULE =
  "Union the rows of every committed run (runs listed by their _SUCCESS markers); per dedupeKey keep the row of the run with the highest seq " +
  "(in updated-at mode equivalently the greatest versionColumn). A key appears at most once within a run.";

/** Columns that identify a row across runs: incremental.primaryKey, else the table's primary key, else the export key. */
export function dedupeKeyOf(spec: ExportSpec, info: TableInfo, keyColumns: KeyColumn[]): string[] {
  const named = spec.incremental?.primaryKey;
  if (named) return named.map((c, i) => column(info, c, `incremental.primaryKey[${i}]`).name);
  return info.indexes.find((ix) => ix.name === "PRIMARY")?.columns ?? keyColumns.map((k) => k.name);
}

export function runSection(spec: ExportSpec, run: RunRecord, dedupeKey: string[], quality: QualityResult[]): Record<string, unknown> {
  const inc = spec.incremental!;
  return {
    schedule: spec.name,
    seq: run.seq,
    attempt: run.attempt,
    runAt: run.runAt,
    mode: inc.mode,
    watermarkColumn: inc.column,
    watermark: { after: run.lo, upTo: run.hi },
    dedupeKey,
    versionColumn: inc.mode === "updated-at" ? inc.column : null,
    readerRule: RUN_READER_RULE,
    columns: run.columns,
    sourceSchema: run.schema,
    schemaDrift: run.drift,
    quality,
    qualityPassed: quality.every((q) => q.passed),
    flagged: quality.filter((q) => !q.passed && q.policy === "flag").map((q) => q.message),
  };
}

/** Fleet runs are finalized by the controller, which knows nothing of schedules: the run section goes next to it. */
export async function writeRunSidecar(
  s3: S3Client,
  bucket: string,
  prefix: string,
  section: Record<string, unknown>,
  sse?: SseSpec,
): Promise<string> {
  const key = `${prefix}_run.json`;
  await putOutputObject(s3, { bucket, key, body: JSON.stringify(section), contentType: "application/json", sse });
  return key;
}

/**
 * Removes everything a failed attempt left under its prefix (chunks, a manifest, the marker) and aborts its uploads,
 * so directory-listing readers never see half a run. The retry writes under its own attempt prefix.
 */
export async function removeAttempt(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  let removed = 0;
  try {
    // The marker first: from then on the directory is not a committed run even if the rest fails half way.
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
      const keys = (page.Contents ?? []).map((o) => o.Key!).sort((a, b) => Number(b.endsWith("_SUCCESS")) - Number(a.endsWith("_SUCCESS")));
      for (let i = 0; i < keys.length; i += 1000) {
        const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
        await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } }));
        removed += batch.length;
      }
    }
    await abortUploads(s3, bucket, prefix);
  } catch (cause) {
    throw new Error(`removing the failed attempt under s3://${bucket}/${prefix}`, { cause });
  }
  return removed;
}
