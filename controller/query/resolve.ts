import type { S3Client } from "@aws-sdk/client-s3";
import type { ExportRecord } from "../../config/records.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import type { Manifest } from "../../lib/output/manifest.ts";
import { readManifest } from "../finalize/finalize.ts";
import { latestKey, readLatestPointer } from "./latest.ts";

/**
 * Finds the manifest an `ID|NAME` argument means. An export id is looked up in the state table and must be
 * SUCCEEDED (only then is there a manifest). Otherwise the argument is a spec name: its exports in the state table
 * give the destination, whose `_latest.json` names the manifest; without a pointer (exports finalized before
 * pointers existed), the newest SUCCEEDED export of that name is taken.
 */
export interface Resolved {
  manifest: Manifest;
  manifestKey: string;
  /** How the argument was read. */
  via: "export id" | "latest pointer" | "newest succeeded export";
}

/** The argument names nothing queryable (unknown, or not complete); the CLI prints it as a usage error. */
export class NotQueryable extends Error {}

export async function resolveExport(deps: { jobs: JobStore; s3: S3Client; tableName: string }, ref: string): Promise<Resolved> {
  const record = await deps.jobs.getExport(ref);
  if (record) {
    if (record.state !== "SUCCEEDED" || !record.manifestKey) throw notComplete(record);
    const manifest = await readManifest(deps.s3, record.spec.destination.bucket, record.manifestKey);
    return { manifest, manifestKey: record.manifestKey, via: "export id" };
  }
  const named = (await deps.jobs.listExports({ limit: 1000 })).filter((e) => e.spec.name === ref);
  if (named.length === 0) throw new NotQueryable(`no export with id or spec name ${ref} in state table ${deps.tableName}`);
  const newest = named[0]!;
  const { bucket, prefix } = newest.spec.destination;
  const pointer = await readLatestPointer(deps.s3, bucket, latestKey(prefix, ref));
  if (pointer) {
    const manifest = await readManifest(deps.s3, pointer.bucket, pointer.manifest);
    return { manifest, manifestKey: pointer.manifest, via: "latest pointer" };
  }
  const done = named.find((e) => e.state === "SUCCEEDED" && e.manifestKey);
  if (!done) throw notComplete(newest);
  const manifest = await readManifest(deps.s3, done.spec.destination.bucket, done.manifestKey!);
  return { manifest, manifestKey: done.manifestKey!, via: "newest succeeded export" };
}

function notComplete(e: ExportRecord): NotQueryable {
  return new NotQueryable(
    `export ${e.exportId} is ${e.state}, not complete: it has no manifest yet` +
      (e.state === "RUNNING" ? ` (follow it with spotferry status -w)` : e.error ? ` (${e.error.slice(0, 200)})` : ""),
  );
}
