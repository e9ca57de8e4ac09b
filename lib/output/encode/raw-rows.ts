/**
 * Rows as the server sent them: the text protocol's values, one after another, in one buffer per batch. The Parquet
 * builders read digits, dates and text straight from these bytes (column-builders.ts `appendRaw`), so a value is never
 * turned into a JS string or number only to be turned back into bytes: the driver's per-value conversion was the
 * largest single cost of an export (1.7 of 2.2 µs per call-log row read, test/bench/source-read.bench.ts).
 *
 * Every value is valid as the server's text in the connection's character set (utf8mb4), or raw bytes for a binary
 * column; `row(i)` turns one row into the driver's values for what needs them (cursor keys, NDJSON/CSV, enrichment).
 */
import type { Row } from "./column-builders.ts";

export interface RawRowsInit {
  buf: Buffer;
  /** Values per row (the columns of the query). */
  stride: number;
  length: number;
  /** Offset in `buf` of value c of row r at [r * stride + c]. */
  starts: Int32Array;
  /** Its length in bytes, -1 for NULL. */
  lens: Int32Array;
  /** The driver's values of row r (its own parser over the row's bytes). */
  materialize: (r: number) => Row;
  /** Given back (recycle) once every view of the batch is done with its bytes; absent: left to the GC. */
  storage?: RowStorage;
}

/**
 * A batch's buffers, shared by the batch and its slices, which its collector may refill for a later batch once every
 * view said done(). Fresh megabytes per batch made V8 run a full GC every ~100 ms for the external memory alone.
 * A view dropped without done() only keeps the buffers from being reused: nothing is ever refilled while a view
 * that has not said done() can still read it.
 */
export class RowStorage {
  private views = 1;
  private readonly recycle: () => void;

  constructor(recycle: () => void) {
    this.recycle = recycle;
  }

  /** @internal */
  retain(): void {
    this.views++;
  }

  /** @internal */
  release(): void {
    if (--this.views === 0) this.recycle();
  }
}

export class RawRows {
  readonly buf: Buffer;
  readonly stride: number;
  readonly length: number;
  readonly starts: Int32Array;
  readonly lens: Int32Array;
  private readonly materialize: (r: number) => Row;
  /** Index of this view's first row in the batch it was sliced from (for materialize). */
  private readonly base: number;
  private storage: RowStorage | undefined;

  constructor(init: RawRowsInit, base = 0) {
    this.buf = init.buf;
    this.stride = init.stride;
    this.length = init.length;
    this.starts = init.starts;
    this.lens = init.lens;
    this.materialize = init.materialize;
    this.base = base;
    this.storage = init.storage;
  }

  /**
   * This view is finished with the bytes (its rows were encoded and its keys read): the last view of a batch to say so
   * gives the batch's buffers back to its collector. Nothing of the view may be read afterwards. Idempotent.
   */
  done(): void {
    const s = this.storage;
    this.storage = undefined;
    s?.release();
  }

  /** Rows [from, to) of this batch, sharing its bytes. */
  slice(from: number, to = this.length): RawRows {
    const f = Math.max(0, Math.min(from, this.length));
    const t = Math.max(f, Math.min(to, this.length));
    const s = this.stride;
    return new RawRows(
      {
        buf: this.buf,
        stride: s,
        length: t - f,
        starts: this.starts.subarray(f * s, t * s),
        lens: this.lens.subarray(f * s, t * s),
        materialize: this.materialize,
        storage: this.retained(),
      },
      this.base + f,
    );
  }

  /** The storage, with one more view on it (a slice). */
  private retained(): RowStorage | undefined {
    this.storage?.retain();
    return this.storage;
  }

  /** Row r as the driver delivers it (MYSQL_SOURCE_OPTIONS). */
  row(r: number): Row {
    return this.materialize(this.base + r);
  }

  rows(): Row[] {
    const out: Row[] = new Array(this.length);
    for (let r = 0; r < this.length; r++) out[r] = this.row(r);
    return out;
  }
}

/** What a source hands an encoder: the driver's row arrays, or the rows' wire bytes. */
export type RowBatch = readonly Row[] | RawRows;

/** Says done() for a batch of wire rows (row arrays have nothing to give back). */
export const doneWith = (batch: RowBatch): void => {
  if (batch instanceof RawRows) batch.done();
};

/** The driver's row arrays of a batch (materialized for raw batches). */
export const rowsOf = (batch: RowBatch): readonly Row[] => (batch instanceof RawRows ? batch.rows() : batch);
