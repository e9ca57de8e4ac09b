import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Connection } from "mysql2/promise";
import type { KeyColumn } from "../../config/records.ts";
import { and, quoteIdent, rangePredicate, selectExpr } from "../../lib/mysql/key-sql.ts";
import { describeTable, filterSql } from "../../lib/mysql/schema.ts";
import type { Manifest, ManifestPartition } from "../../lib/output/manifest.ts";
import { KEY_SEPARATOR, ObjectKeyReader } from "../../lib/output/object-keys.ts";

/**
 * Proves exactly-once from the outside: for every partition of the manifest, the committed objects are read back
 * from S3 (their SHA-256 checked) and their row count and an order-independent checksum of every row's key (sum of
 * CRC32 of the key's text) are compared with the same figures computed by SQL over the partition's range of the
 * source. A missing row lowers the count; a duplicate raises it; a swap changes the sum. Rows outside the partition's
 * range are reported too. It reads the job store not at all: only the manifest and the source.
 */
export interface PartitionCheck {
  partition: number;
  sourceRows: number;
  objectRows: number;
  sourceSum: string;
  objectSum: string;
  problems: string[];
}

export interface VerifyReport {
  exportId: string;
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

const keyTextSql = (cols: KeyColumn[]) => {
  const parts = cols.map((c) => (c.type === "binary" ? selectExpr(c) : `CAST(${quoteIdent(c.name)} AS CHAR)`));
  return parts.length === 1 ? parts[0]! : `CONCAT_WS(CHAR(31), ${parts.join(", ")})`;
};

export async function verifyExport(deps: VerifyDeps, manifest: Manifest): Promise<VerifyReport> {
  const src = manifest.spec.source;
  const info = await describeTable(deps.conn, src.database, src.table);
  const filter = filterSql(info, src.filter);
  const table = `${quoteIdent(info.database)}.${quoteIdent(info.table)}`;
  const reader = new ObjectKeyReader(manifest.keyColumns);
  const columnNames = manifest.schema.map((c) => c.name);
  const report: VerifyReport = { exportId: manifest.exportId, partitions: 0, rows: 0, missing: 0, duplicated: 0, mismatched: [] };
  try {
    let done = 0;
    for (const p of manifest.partitions) {
      const where = and(
        rangePredicate(manifest.keyColumns, { lo: p.lo, hi: p.hi, cursor: null, highWatermark: manifest.highWatermark }),
        filter,
      );
      const [rows] = await deps.conn.query(
        `SELECT COUNT(*) AS n, COALESCE(SUM(CRC32(${keyTextSql(manifest.keyColumns)})), 0) AS s FROM ${table} WHERE ${where.sql}`,
        where.params,
      );
      const r = (rows as { n: number | string; s: number | string }[])[0]!;
      const check = await checkObjects(deps.s3, manifest, p, reader, columnNames);
      check.sourceRows = Number(r.n);
      check.sourceSum = String(r.s);
      if (check.sourceRows !== check.objectRows) check.problems.push(`${check.sourceRows} rows in the source, ${check.objectRows} in S3`);
      else if (check.sourceSum !== check.objectSum) check.problems.push("same row count but different keys (checksum mismatch)");
      report.partitions++;
      report.rows += check.objectRows;
      if (check.objectRows < check.sourceRows) report.missing += check.sourceRows - check.objectRows;
      if (check.objectRows > check.sourceRows) report.duplicated += check.objectRows - check.sourceRows;
      if (check.problems.length) report.mismatched.push(check);
      deps.onPartition?.(check, ++done, manifest.partitions.length);
    }
  } finally {
    reader.close();
  }
  return report;
}

async function checkObjects(
  s3: S3Client,
  manifest: Manifest,
  p: ManifestPartition,
  reader: ObjectKeyReader,
  columnNames: string[],
): Promise<PartitionCheck> {
  const check: PartitionCheck = { partition: p.partition, sourceRows: 0, objectRows: 0, sourceSum: "0", objectSum: "0", problems: [] };
  let sum = 0n;
  for (const c of p.chunks) {
    let body: Buffer;
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: manifest.bucket, Key: c.key }));
      body = Buffer.from(await res.Body!.transformToByteArray());
    } catch (cause) {
      check.problems.push(`object ${c.key} cannot be read: ${(cause as Error).name}`);
      continue;
    }
    if (createHash("sha256").update(body).digest("hex") !== c.sha256) check.problems.push(`object ${c.key} does not match its SHA-256`);
    const keys = await reader.keys(manifest.spec.destination.format, body, columnNames);
    if (keys.length !== c.rows) check.problems.push(`object ${c.key} holds ${keys.length} rows, the manifest says ${c.rows}`);
    let chunkSum = 0;
    for (const k of keys) chunkSum += crc32(Buffer.from(k, "utf8"));
    sum += BigInt(chunkSum);
    check.objectRows += keys.length;
    const first = keys[0]?.split(KEY_SEPARATOR);
    if (first && first.join() !== c.firstKey.join())
      check.problems.push(`object ${c.key} starts at ${keys[0]}, the manifest says ${c.firstKey.join()}`);
  }
  check.objectSum = sum.toString();
  return check;
}
