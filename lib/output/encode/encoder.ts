/**
 * The encoder contract shared by every output format, and the byte output with backpressure they all write to.
 * One Encoder produces exactly one object (a chunk): write row batches, then end(); read the bytes from `output`.
 */
import { Readable } from "node:stream";
import type { ColumnBuilder } from "./column-builders.ts";
import type { ColumnSpec } from "./column-spec.ts";
import type { RowBatch } from "./raw-rows.ts";

export type OutputFormat = "parquet" | "ndjson" | "csv";
export type Compression = "zstd" | "snappy" | "gzip" | "none";

export interface EncoderOptions {
  /** Parquet: zstd (default), snappy, gzip or none. NDJSON/CSV: gzip (default), zstd (level 1) or none. */
  compression?: Compression;
  /** gzip level for NDJSON/CSV (1 = fastest, default 1); Parquet's gzip codec always uses level 1. */
  gzipLevel?: number;
  /** Parquet: rows per row group (default 65,536); a row group also closes at maxRowGroupBytes of column data. */
  rowGroupRows?: number;
  /** Parquet: bytes of buffered column data that close a row group early (wide rows), default 8 MiB. */
  maxRowGroupBytes?: number;
  /** Parquet: encode in a shared worker thread (default) or in this thread ("inline", for one-core nodes and tests). */
  threads?: "worker" | "inline";
  /** Bytes buffered in `output` before write() waits for the reader (default 8 MiB). */
  highWaterMark?: number;
  /**
   * Parquet: write TINYINT(1) columns (ColumnSpec.displayWidth 1, MySQL's BOOL) as BOOLEAN instead of INT32 INTEGER(8);
   * a value other than 0/1 then fails the chunk, naming the column. Default false (the spec's destination.parquet).
   */
  tinyint1AsBoolean?: boolean;
  /**
   * Parquet: bound on the PLAIN bytes of a text column's per-row-group dictionary (default 1 MiB, parquet-mr's
   * dictionary page size); past it that column chunk falls back to PLAIN. 0 = never dictionary-encode text.
   */
  dictionaryMaxBytes?: number;
  /**
   * Parquet: INT32/INT64 data pages whose values differ by small, steady steps (sorted keys, timestamps in key order)
   * go out DELTA_BINARY_PACKED (delta-binary.ts); default true. false keeps every page PLAIN or dictionary, for a
   * reader that knows no other encodings (the spec's destination.parquet.deltaEncoding).
   */
  deltaEncoding?: boolean;
}

export interface ColumnStats {
  name: string;
  nulls: number;
  /** MySQL zero dates ('0000-00-00', '2020-00-15', ...) written as NULL (also counted in nulls). */
  zeroDates: number;
}

export interface EncoderStats {
  rows: number;
  /** Bytes handed to `output` so far (the object's size once end() resolved). */
  bytes: number;
  zeroDates: number;
  columns: ColumnStats[];
}

export interface Encoder {
  readonly format: OutputFormat;
  /** File name extension including compression, e.g. ".parquet", ".ndjson.gz". */
  readonly extension: string;
  readonly contentType: string;
  readonly columns: readonly ColumnSpec[];
  /** The object's bytes, in order. Pipe it to the sink (e.g. the Body of an @aws-sdk/lib-storage Upload). */
  readonly output: Readable;
  /**
   * Adds rows exactly as mysql2 delivers them with MYSQL_SOURCE_OPTIONS (arrays in column order), or as the server
   * sent them (RawRows: the Parquet encoder reads those bytes directly). The returned promise resolves when the encoder
   * can take more: await it (backpressure keeps memory bounded). Rejects on a bad value, naming the column.
   */
  write(rows: RowBatch): Promise<void>;
  /** Completes the object; resolves once its last byte was pushed to `output` (which then ends). */
  end(): Promise<EncoderStats>;
  /** Abandons the object (fenced lease, abort signal): frees its resources and errors `output` with `reason`. */
  destroy(reason?: Error): void;
  stats(): EncoderStats;
}

/** A Readable fed by push() whose writer can wait until the reader has drained it below the high-water mark. */
export class ByteOutput {
  private readonly highWaterMark: number;
  readonly readable: Readable;
  bytes = 0;
  private waiters: (() => void)[] = [];

  constructor(highWaterMark: number) {
    this.highWaterMark = highWaterMark;
    this.readable = new Readable({ highWaterMark, read: () => this.wake() });
  }

  push(buf: Uint8Array): void {
    if (buf.length === 0) return;
    this.bytes += buf.length;
    this.readable.push(buf);
  }

  /** Resolves when the reader has room again (immediately if it has now). */
  async ready(): Promise<void> {
    while (this.readable.readableLength >= this.highWaterMark && !this.readable.destroyed) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  end(): void {
    this.readable.push(null);
  }

  destroy(err?: Error): void {
    this.readable.destroy(err);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export function statsOf(rows: number, bytes: number, builders: readonly ColumnBuilder[]): EncoderStats {
  const columns = builders.map((b) => ({
    name: b.spec.name,
    nulls: b.counters.nulls,
    zeroDates: b.counters.zeroDates,
  }));
  return {
    rows,
    bytes,
    zeroDates: columns.reduce((n, c) => n + c.zeroDates, 0),
    columns,
  };
}

/** Wraps a value error with the column and row it came from. */
export function valueError(column: ColumnSpec, row: number, cause: unknown): Error {
  return new Error(`encoding column ${column.name} (${column.sourceType}) of row ${row}`, { cause });
}
