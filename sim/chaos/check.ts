import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { GetObjectCommand, ListMultipartUploadsCommand, paginateListObjectsV2, type S3Client } from "@aws-sdk/client-s3";
import type mysql from "mysql2/promise";
import { readManifest } from "../../controller/finalize/finalize.ts";
import type { Manifest } from "../../lib/output/manifest.ts";

/**
 * The chaos run's own check of an export, independent of `export verify` (DuckDB over the objects, SQL over the
 * source) and of the agent's encoder: every committed object of the manifest is read back with nothing but gunzip and
 * JSON.parse (the run exports NDJSON for that), its SHA-256 and row count compared with the manifest, and its keys
 * counted against the source table's keys read directly from MariaDB. Then what finalize must leave behind: no object
 * under the export's prefix that the manifest does not name, no open multipart upload.
 */
export interface IndependentCheck {
  sourceRows: number;
  objectRows: number;
  objects: number;
  /** Source keys found in no object. */
  lost: number;
  /** Extra copies of keys (a key in two objects counts 1). */
  duplicated: number;
  /** Keys in the objects that the source does not have. */
  foreign: number;
  /** Objects whose bytes or row count differ from the manifest. */
  corrupt: string[];
  /** Objects under the export's prefix the manifest does not name (besides the manifest and _SUCCESS). */
  orphans: string[];
  openUploads: number;
}

export interface CheckOptions {
  s3: S3Client;
  /** The operator's connection to the source. */
  admin: mysql.Connection;
  bucket: string;
  manifestKey: string;
  database: string;
  table: string;
}

export async function checkExport(o: CheckOptions): Promise<IndependentCheck> {
  const manifest = await readManifest(o.s3, o.bucket, o.manifestKey);
  const keyNames = manifest.keyColumns.map((c) => c.name);
  if (manifest.spec.destination.format !== "ndjson") throw new Error(`checking export ${manifest.exportId}: only NDJSON objects are read`);
  const seen = new Map<string, number>();
  const corrupt: string[] = [];
  let objectRows = 0;
  let objects = 0;
  for (const p of manifest.partitions) {
    for (const c of p.chunks) {
      const body = await readObject(o.s3, o.bucket, c.key);
      objects++;
      const keys = keysOf(body, keyNames);
      objectRows += keys.length;
      if (createHash("sha256").update(body).digest("hex") !== c.sha256 || keys.length !== c.rows) corrupt.push(c.key);
      for (const k of keys) seen.set(k, (seen.get(k) ?? 0) + 1);
    }
  }
  let duplicated = 0;
  for (const n of seen.values()) if (n > 1) duplicated += n - 1;
  const { sourceRows, lost } = await countSource(o, keyNames, seen);
  const foreign = [...seen.values()].filter((n) => n > 0).length;
  return { sourceRows, objectRows, objects, lost, duplicated, foreign, corrupt, ...(await leftovers(o.s3, manifest)) };
}

async function readObject(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

/** The key of every line, as text (NDJSON writes BIGINT and DECIMAL as JSON strings of the exact digits). */
function keysOf(body: Buffer, keyNames: string[]): string[] {
  const text = (body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body).toString("utf8");
  return text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => {
      const row = JSON.parse(l) as Record<string, unknown>;
      return keyNames.map((k) => String(row[k])).join("\u0000");
    });
}

/**
 * Reads every source key and takes it off `seen` (left with 0 for each key the source has, the object count for
 * keys it lacks). Streams, so a large table is not held twice.
 */
async function countSource(o: CheckOptions, keyNames: string[], seen: Map<string, number>): Promise<{ sourceRows: number; lost: number }> {
  const cols = keyNames.map((k) => `CAST(\`${k}\` AS CHAR) AS \`${k}\``).join(", ");
  const sql = `SELECT ${cols} FROM \`${o.database}\`.\`${o.table}\``;
  let sourceRows = 0;
  let lost = 0;
  // The promise wrapper's underlying connection streams (its own query() would buffer every row).
  const core = (o.admin as unknown as { connection: { query(q: object): { stream(): AsyncIterable<unknown[]> } } }).connection;
  const stream = core.query({ sql, rowsAsArray: true }).stream();
  for await (const row of stream) {
    sourceRows++;
    const key = row.map((v) => String(v)).join("\u0000");
    const n = seen.get(key);
    if (n === undefined || n === 0) lost++;
    else seen.set(key, 0);
  }
  return { sourceRows, lost };
}

async function leftovers(s3: S3Client, m: Manifest): Promise<{ orphans: string[]; openUploads: number }> {
  const named = new Set(m.partitions.flatMap((p) => p.chunks.map((c) => c.key)));
  // The manifest's prefix is the export's own folder (`<destination prefix><export id>/`).
  const prefix = m.prefix;
  const orphans: string[] = [];
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: m.bucket, Prefix: prefix })) {
    for (const obj of page.Contents ?? []) {
      const key = obj.Key ?? "";
      if (!named.has(key) && !/(^|\/)(_manifest\.json|_SUCCESS)$/.test(key)) orphans.push(key);
    }
  }
  let openUploads = 0;
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  for (;;) {
    const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: m.bucket, Prefix: prefix, KeyMarker, UploadIdMarker }));
    openUploads += page.Uploads?.length ?? 0;
    if (!page.IsTruncated) return { orphans, openUploads };
    KeyMarker = page.NextKeyMarker;
    UploadIdMarker = page.NextUploadIdMarker;
  }
}
