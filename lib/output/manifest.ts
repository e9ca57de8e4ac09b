import type { ExportSpec } from "../../config/export-spec.ts";
import type { KeyColumn, SourceKey, SourcePosition } from "../../config/records.ts";
import type { ColumnSpec } from "./encode/index.ts";

/**
 * The manifest readers trust: every committed object with its rows, bytes and checksum, grouped by partition with the
 * partition's key range, plus the schema, the key and the watermark. Objects under the export's prefix that it does
 * not list are not part of the output. `spec` carries the source's connection and secret reference (never a secret)
 * so `export verify` can check the output against the source without the job store.
 */
export const MANIFEST_FORMAT = "spotferry-manifest/v1";

export interface ManifestChunk {
  key: string;
  seq: number;
  epoch: number;
  rows: number;
  bytes: number;
  sha256: string;
  firstKey: SourceKey;
  lastKey: SourceKey;
}

export interface ManifestPartition {
  partition: number;
  lo: SourceKey | null;
  hi: SourceKey | null;
  rows: number;
  bytes: number;
  chunks: ManifestChunk[];
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  exportId: string;
  createdAt: string;
  spec: ExportSpec;
  bucket: string;
  prefix: string;
  keyColumns: KeyColumn[];
  lowKey: SourceKey | null;
  highWatermark: SourceKey | null;
  schema: ColumnSpec[];
  totals: { partitions: number; chunks: number; rows: number; bytes: number };
  partitions: ManifestPartition[];
  /** What the output promises about time (README: "What an export promises"), and where the source stood at plan time. */
  consistency?: ManifestConsistency;
  /** Present when the export is one run of an incremental schedule (controller/schedule/run-manifest.ts). */
  run?: Record<string, unknown>;
}

export const manifestKey = (exportPrefix: string) => `${exportPrefix}_manifest.json`;
export const successKey = (exportPrefix: string) => `${exportPrefix}_SUCCESS`;

/**
 * Each partition's rows are read by its chunks' queries, each at its own moment after `sourcePosition` was taken:
 * the output is not one point in time. Change capture continued from `sourcePosition.binlog`/`gtid`, or an
 * incremental schedule started after `sourcePosition.serverTime` minus its safety lag, misses nothing and may
 * repeat a row the export already holds; the newest version per key (the version column, else the later copy) wins.
 */
export interface ManifestConsistency {
  snapshot: "per-chunk";
  /** Null for exports planned before the position was recorded. */
  sourcePosition: SourcePosition | null;
  handoff: string;
}

export const CONSISTENCY_NOTE =
  "not a single point in time: each chunk's query reads the source at its own moment after sourcePosition; " +
  "continue change capture from sourcePosition.binlog/gtid, or start an incremental schedule with " +
  "startAfter = sourcePosition.serverTime minus its safetyLag: no gap, at worst a row twice (the newest version per key wins)";
