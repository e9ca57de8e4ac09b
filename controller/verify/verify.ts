import type { S3Client } from "@aws-sdk/client-s3";
import type { Connection } from "mysql2/promise";
import { and, rangePredicate } from "../../lib/mysql/key-sql.ts";
import { describeTable, filterSql, type TableInfo } from "../../lib/mysql/schema.ts";
import type { Manifest, ManifestPartition } from "../../lib/output/manifest.ts";
import { comparedColumns } from "./canonical.ts";
import { diffKeys, type Figure, type KeyDiff, sameFigure } from "./key-diff.ts";
import { ObjectDigest, objectRelation, objectSide, perFile } from "./object-digest.ts";
import { sourceRelation, sourceSide, sourceTotal } from "./source-digest.ts";

/**
 * Proves the output from the outside: for every partition of the manifest, the committed objects are read back
 * from S3 (their SHA-256 checked) and their row count and an order-independent checksum of every row (the sum of a
 * 64-bit hash of the row's canonical text over every exported column, canonical.ts) are compared with the same
 * figures computed by SQL over the partition's range of the source. A missing row lowers the count, a duplicate
 * raises it, a changed value anywhere (in the source since the export, or inside an object) changes the sum.
 * `keysOnly` hashes only the key (the faster proof of exactly-once, not of content). With `rows`, a mismatching
 * partition is narrowed down to the differing keys by hash buckets (key-diff.ts), in bounded memory.
 * It reads the job store not at all: only the manifest and the source.
 */
export interface PartitionCheck {
  partition: number;
  sourceRows: number;
  objectRows: number;
  sourceSum: string;
  objectSum: string;
  problems: string[];
  /** With `rows`: the differing keys (at most `rows` of them). */
  keys?: KeyDiff[];
}

export interface VerifyReport {
  exportId: string;
  mode: "content" | "keys";
  partitions: number;
  rows: number;
  missing: number;
  duplicated: number;
  mismatched: PartitionCheck[];
}

export interface VerifyDeps {
  s3: S3Client;
  conn: Connection;
  onPartition?: (check: PartitionCheck, done: number, total: number) => void;
}

export interface VerifyOptions {
  /** Compare only the key of every row (exactly-once), not the content. */
  keysOnly?: boolean;
  /** Name up to this many differing keys per mismatching partition (0 or absent: figures only). */
  rows?: number;
}

export async function verifyExport(deps: VerifyDeps, manifest: Manifest, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const src = manifest.spec.source;
  const info = await describeTable(deps.conn, src.database, src.table);
  const keyNames = manifest.keyColumns.map((c) => c.name);
  const columns = comparedColumns(manifest.schema, keyNames, opts.keysOnly === true);
  const report: VerifyReport = {
    exportId: manifest.exportId,
    mode: opts.keysOnly ? "keys" : "content",
    partitions: 0,
    rows: 0,
    missing: 0,
    duplicated: 0,
    mismatched: [],
  };
  const digest = new ObjectDigest();
  try {
    let done = 0;
    for (const p of manifest.partitions) {
      const check = await checkPartition({ deps, manifest, info, p, digest, columns, keyNames, opts });
      report.partitions++;
      report.rows += check.objectRows;
      if (check.objectRows < check.sourceRows) report.missing += check.sourceRows - check.objectRows;
      if (check.objectRows > check.sourceRows) report.duplicated += check.objectRows - check.sourceRows;
      if (check.problems.length) report.mismatched.push(check);
      deps.onPartition?.(check, ++done, manifest.partitions.length);
    }
  } finally {
    digest.close();
  }
  return report;
}

interface PartitionInput {
  deps: VerifyDeps;
  manifest: Manifest;
  info: TableInfo;
  p: ManifestPartition;
  digest: ObjectDigest;
  columns: Manifest["schema"];
  keyNames: string[];
  opts: VerifyOptions;
}

async function checkPartition(o: PartitionInput): Promise<PartitionCheck> {
  const { manifest, p } = o;
  const where = and(
    rangePredicate(manifest.keyColumns, { lo: p.lo, hi: p.hi, cursor: null, highWatermark: manifest.highWatermark }),
    filterSql(o.info, manifest.spec.source.filter),
  );
  const rel = await sourceRelation({
    conn: o.deps.conn,
    info: o.info,
    spec: manifest.spec,
    columns: o.columns,
    keyNames: o.keyNames,
    where,
  });
  const source = await sourceTotal(rel);
  const format = manifest.spec.destination.format;
  const fetched = await o.digest.fetch(o.deps.s3, manifest.bucket, p.chunks, format);
  const check: PartitionCheck = {
    partition: p.partition,
    sourceRows: source.rows,
    objectRows: 0,
    sourceSum: source.sum.toString(),
    objectSum: "0",
    problems: [...fetched.problems],
  };
  try {
    if (fetched.files.length === 0) {
      if (source.rows > 0) check.problems.push(`${source.rows} rows in the source, 0 in S3`);
      return check;
    }
    const relation = objectRelation({
      format,
      paths: fetched.files.map((f) => f.path),
      schema: manifest.schema,
      columns: o.columns,
      keyNames: o.keyNames,
    });
    const files = await perFile(o.digest, relation);
    const output: Figure = { rows: 0, sum: 0n };
    for (const f of fetched.files) {
      const got = files.get(f.path) ?? { rows: 0, sum: 0n };
      if (got.rows !== f.chunk.rows) check.problems.push(`object ${f.chunk.key} holds ${got.rows} rows, the manifest says ${f.chunk.rows}`);
      output.rows += got.rows;
      output.sum += got.sum;
    }
    check.objectRows = output.rows;
    check.objectSum = output.sum.toString();
    if (source.rows !== output.rows) check.problems.push(`${source.rows} rows in the source, ${output.rows} in S3`);
    else if (!sameFigure(source, output))
      check.problems.push(
        o.opts.keysOnly
          ? "same row count but different keys (checksum mismatch)"
          : "same row count but different content (checksum mismatch)",
      );
    if (o.opts.rows && !sameFigure(source, output))
      check.keys = await diffKeys(sourceSide(rel), objectSide(o.digest, relation), { source, output }, { limit: o.opts.rows });
    return check;
  } finally {
    o.digest.release(fetched);
  }
}
