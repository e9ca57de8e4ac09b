/**
 * Column buffers filled straight from the driver's row arrays, one builder per column, reused from row group to row
 * group. Appends run column by column over a batch of rows (one tight loop per column), and every builder stores its
 * non-null values already in Parquet PLAIN layout (little-endian INT32/INT64/FLOAT/DOUBLE, big-endian decimal
 * FIXED_LEN_BYTE_ARRAY, `len32 + bytes` BYTE_ARRAY), or as dictionary indices, so a page is a memcpy away. Nullable
 * columns also keep a validity bitmap, which is byte for byte the bit-packed run of their definition levels.
 * `appendRaw` does the same from the rows' wire bytes (raw-rows.ts): digits and dates are parsed where they lie and
 * text is copied, so the hot kinds never build a JS value. This file holds the base class; number-builders.ts the
 * fixed-width kinds, bytes-builder.ts text and bytes, dictionary-builders.ts ENUM/SET and text dictionaries.
 */
import type { ColumnSpec } from "./column-spec.ts";
import type { RawRows } from "./raw-rows.ts";

export type Row = readonly unknown[];

/** Rows a builder's buffers start with. */
const INITIAL_ROWS = 1024;

/** A copy of `a` in a new array of `size` elements of the same type. */
export function grown<T extends Uint8Array | Int32Array | Float32Array | Float64Array>(a: T, size: number): T {
  const next = new (a.constructor as new (n: number) => T)(size);
  next.set(a);
  return next;
}

/** Per-column counters reported with the encoder stats. */
export interface ColumnCounters {
  nulls: number;
  zeroDates: number;
}

/** A dictionary page body: `count` PLAIN BYTE_ARRAY entries. */
export interface DictionaryPage {
  bytes: Uint8Array;
  count: number;
}

export abstract class ColumnBuilder {
  readonly spec: ColumnSpec;
  readonly index: number;
  /** Rows in the current row group, and how many of them are NULL. */
  length = 0;
  nullCount = 0;
  readonly counters: ColumnCounters = { nulls: 0, zeroDates: 0 };
  /** Bit i set = row i is not NULL (nullable columns only). */
  validity: Uint8Array;
  /** Rows the buffers hold now; they grow up to `maxRows` as a row group fills (reserve). */
  protected rowsHeld: number;
  private readonly maxRows: number;

  constructor(spec: ColumnSpec, index: number, capacity: number) {
    this.spec = spec;
    this.index = index;
    this.maxRows = capacity;
    // A wide table's row group closes at 8 MiB long before 65,536 rows: buffers sized for the row limit up front cost
    // a hundred columns ~36 MB that never fill.
    this.rowsHeld = Math.min(capacity, INITIAL_ROWS);
    this.validity = new Uint8Array(spec.nullable ? Math.ceil(this.rowsHeld / 8) : 0);
  }

  /** Makes room for `n` more rows (the caller keeps length + n <= the capacity it created the builder with). */
  protected reserve(n: number): void {
    const need = this.length + n;
    if (need <= this.rowsHeld) return;
    const rows = Math.min(this.maxRows, Math.max(need, this.rowsHeld * 2));
    if (this.spec.nullable) this.validity = grown(this.validity, Math.ceil(rows / 8));
    this.resize(rows);
    this.rowsHeld = rows;
  }

  /** Grows the per-row buffers to `rows` rows, keeping what they hold. */
  protected resize(_rows: number): void {}

  /** Appends rows[from..to) of this builder's column. The caller guarantees length + (to - from) <= capacity. */
  append(rows: readonly Row[], from: number, to: number): void {
    this.reserve(to - from);
    const j = this.index;
    const validity = this.validity;
    const nullable = this.spec.nullable;
    let i = this.length;
    for (let r = from; r < to; r++, i++) {
      const v = (rows[r] as Row)[j];
      if (v !== null && v !== undefined && this.put(v)) {
        if (nullable) validity[i >> 3] = (validity[i >> 3] as number) | (1 << (i & 7));
      } else this.addNull();
    }
    this.length = i;
  }

  /** append() for rows as wire bytes: column `index` of rows[from..to). */
  appendRaw(raw: RawRows, from: number, to: number): void {
    this.reserve(to - from);
    const { buf, starts, lens, stride } = raw;
    const j = this.index;
    const validity = this.validity;
    const nullable = this.spec.nullable;
    let i = this.length;
    for (let r = from; r < to; r++, i++) {
      const at = r * stride + j;
      const len = lens[at] as number;
      if (len >= 0 && this.putRaw(buf, starts[at] as number, len)) {
        if (nullable) validity[i >> 3] = (validity[i >> 3] as number) | (1 << (i & 7));
      } else this.addNull();
    }
    this.length = i;
  }

  /** put() of the value at buf[at, at + len): the driver's value (bytes for BIT and binary, else the text), by default. */
  protected putRaw(buf: Buffer, at: number, len: number): boolean {
    const k = this.spec.kind;
    return this.put(k === "bit" || k === "binary" ? buf.subarray(at, at + len) : buf.toString("utf8", at, at + len));
  }

  protected addNull(): void {
    if (!this.spec.nullable) throw new Error("NULL in a NOT NULL column");
    this.nullCount++;
    this.counters.nulls++;
  }

  /** Stores a non-null value; returns false to store NULL instead (zero dates). */
  protected abstract put(v: unknown): boolean;

  /**
   * The row group's dictionary page body (PLAIN entries) when this column chunk is dictionary-encoded, else null.
   * Called once per row group, before values(), which then returns the RLE_DICTIONARY index data instead of PLAIN.
   */
  dictionary(): DictionaryPage | null {
    return null;
  }

  /** min/max the builder computed itself (PLAIN bytes), for columns the compressor has no statistics for; null = none. */
  bounds(): [Uint8Array, Uint8Array] | null {
    return null;
  }

  /** PLAIN bytes of the non-null values (or, for dictionary columns, the RLE_DICTIONARY index data). */
  abstract values(): Uint8Array;

  /** Bytes held (for the row group size limit). */
  abstract byteSize(): number;

  reset(): void {
    this.length = 0;
    this.nullCount = 0;
    this.validity.fill(0);
  }
}
