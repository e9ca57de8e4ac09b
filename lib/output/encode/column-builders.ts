/**
 * Column buffers filled straight from the driver's row arrays, one builder per column, reused from row group to row
 * group. Appends run column by column over a batch of rows (one tight loop per column), and every builder stores its
 * non-null values already in Parquet PLAIN layout (little-endian INT32/INT64/FLOAT/DOUBLE, big-endian decimal
 * FIXED_LEN_BYTE_ARRAY, `len32 + bytes` BYTE_ARRAY), or as dictionary indices, so a page is a memcpy away. Nullable
 * columns also keep a validity bitmap, which is byte for byte the bit-packed run of their definition levels.
 * `appendRaw` does the same from the rows' wire bytes (raw-rows.ts): digits and dates are parsed where they lie and
 * text is copied, so the hot kinds never build a JS value.
 */
import type { ColumnSpec } from "./column-spec.ts";
import type { RawRows } from "./raw-rows.ts";
import {
  bitValue,
  parseDateDays,
  parseDateDaysBytes,
  putDateTimeMicros,
  putDateTimeMicrosBytes,
  putDecimal,
  putDecimalBytes,
  putInt64,
  putSafeInt64,
  smallIntBytes,
  ZERO_DATE,
} from "./values.ts";

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

/** INT32-stored kinds (8..32-bit integers, YEAR, DATE, BIT(n <= 32), DECIMAL(p <= 9)), FLOAT and DOUBLE. */
export class NumberBuilder extends ColumnBuilder {
  private vals: Int32Array | Float32Array | Float64Array;
  private n = 0;
  private readonly convert: ((v: unknown) => number | null) | null;
  /** How putRaw reads a value: 0 digits, 1 float text, 2 date, 3 decimal, 4 as put() does (BIT). */
  private readonly rawMode: number;
  private readonly scratch = new Int32Array(2);

  constructor(spec: ColumnSpec, index: number, capacity: number) {
    super(spec, index, capacity);
    const k = spec.kind;
    const rows = this.rowsHeld;
    this.vals = k === "float" ? new Float32Array(rows) : k === "double" ? new Float64Array(rows) : new Int32Array(rows);
    this.rawMode = k === "float" || k === "double" ? 1 : k === "date" ? 2 : k === "decimal" ? 3 : k === "bit" ? 4 : 0;
    const scratch = this.scratch;
    this.convert =
      k === "date"
        ? (v) => {
            const d = parseDateDays(typeof v === "string" ? v : String(v));
            if (d !== ZERO_DATE) return d;
            this.counters.zeroDates++;
            return null;
          }
        : k === "bit"
          ? (v) => Number(bitValue(v))
          : k === "decimal"
            ? (v) => {
                putDecimal(scratch, 0, v, spec.scale, 2);
                return scratch[0] as number;
              }
            : null;
  }

  // A copy of ColumnBuilder.append per hot class: `this.put` is then monomorphic and inlined.
  override append(rows: readonly Row[], from: number, to: number): void {
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

  // A copy of ColumnBuilder.appendRaw per hot class, for the same reason.
  override appendRaw(raw: RawRows, from: number, to: number): void {
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

  protected override resize(rows: number): void {
    this.vals = grown(this.vals, rows);
  }

  protected override putRaw(buf: Buffer, at: number, len: number): boolean {
    let x: number | null;
    switch (this.rawMode) {
      case 0:
        x = smallIntBytes(buf, at, len);
        if (x === null) return this.put(buf.toString("latin1", at, at + len));
        break;
      case 1:
        x = Number(buf.toString("latin1", at, at + len));
        break;
      case 2:
        x = parseDateDaysBytes(buf, at, len);
        if (x === ZERO_DATE) {
          this.counters.zeroDates++;
          return false;
        }
        break;
      case 3:
        putDecimalBytes(this.scratch, 0, buf, at, len, this.spec.scale, 2);
        x = this.scratch[0] as number;
        break;
      default:
        return super.putRaw(buf, at, len);
    }
    this.vals[this.n++] = x;
    return true;
  }

  protected put(v: unknown): boolean {
    if (this.convert === null) {
      this.vals[this.n++] = typeof v === "number" ? v : Number(v);
      return true;
    }
    const x = this.convert(v);
    if (x === null) return false;
    this.vals[this.n++] = x;
    return true;
  }

  values(): Uint8Array {
    return new Uint8Array(this.vals.buffer, 0, this.n * this.vals.BYTES_PER_ELEMENT);
  }

  byteSize(): number {
    return this.n * this.vals.BYTES_PER_ELEMENT;
  }

  override reset(): void {
    super.reset();
    this.n = 0;
  }
}

/** INT64-stored kinds as pairs of 32-bit words: BIGINT, DATETIME/TIMESTAMP micros, BIT(n > 32), DECIMAL(p <= 18). */
export class Int64Builder extends ColumnBuilder {
  private words: Int32Array;
  private k = 0;
  private readonly unsigned: boolean;
  /** How putRaw reads a value: 0 digits, 1 decimal, 2 as put() does (BIT), 3 date and time. */
  private readonly rawMode: number;

  constructor(spec: ColumnSpec, index: number, capacity: number) {
    super(spec, index, capacity);
    this.words = new Int32Array(this.rowsHeld * 2);
    this.unsigned = spec.kind === "uint64";
    const kind = spec.kind;
    this.rawMode = kind === "int64" || kind === "uint64" ? 0 : kind === "decimal" ? 1 : kind === "bit" ? 2 : 3;
  }

  // A copy of ColumnBuilder.append per hot class: `this.put` is then monomorphic and inlined.
  override append(rows: readonly Row[], from: number, to: number): void {
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

  // A copy of ColumnBuilder.appendRaw per hot class, for the same reason.
  override appendRaw(raw: RawRows, from: number, to: number): void {
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

  protected override resize(rows: number): void {
    this.words = grown(this.words, rows * 2);
  }

  protected override putRaw(buf: Buffer, at: number, len: number): boolean {
    const w = this.words;
    const k = this.k;
    switch (this.rawMode) {
      case 0: {
        const n = smallIntBytes(buf, at, len);
        if (n !== null && (n >= 0 || !this.unsigned)) putSafeInt64(w, k, n);
        else putInt64(w, k, buf.toString("latin1", at, at + len), this.unsigned);
        break;
      }
      case 1:
        putDecimalBytes(w, k, buf, at, len, this.spec.scale, 2);
        break;
      case 2:
        return super.putRaw(buf, at, len);
      default:
        if (!putDateTimeMicrosBytes(w, k, buf, at, len)) {
          this.counters.zeroDates++;
          return false;
        }
    }
    this.k = k + 2;
    return true;
  }

  protected put(v: unknown): boolean {
    const w = this.words;
    const k = this.k;
    switch (this.spec.kind) {
      case "int64":
      case "uint64":
        // Fast path: mysql2 delivers safe integers as numbers.
        if (typeof v === "number" && Number.isSafeInteger(v) && (v >= 0 || !this.unsigned)) putSafeInt64(w, k, v);
        else putInt64(w, k, v, this.unsigned);
        break;
      case "decimal":
        putDecimal(w, k, v, this.spec.scale, 2);
        break;
      case "bit": {
        const b = bitValue(v);
        if (typeof b === "number") putSafeInt64(w, k, b);
        else putInt64(w, k, b, true);
        break;
      }
      default:
        if (!putDateTimeMicros(w, k, typeof v === "string" ? v : String(v))) {
          this.counters.zeroDates++;
          return false;
        }
    }
    this.k = k + 2;
    return true;
  }

  values(): Uint8Array {
    return new Uint8Array(this.words.buffer, 0, this.k * 4);
  }

  byteSize(): number {
    return this.k * 4;
  }

  override reset(): void {
    super.reset();
    this.k = 0;
  }
}

/** DECIMAL(p > 18): big-endian two's complement in FIXED_LEN_BYTE_ARRAY(width). */
export class FixedBuilder extends ColumnBuilder {
  private readonly width: number;
  private data: Uint8Array;
  private pos = 0;
  private readonly scratch: Int32Array;
  private readonly le: Uint8Array;

  constructor(spec: ColumnSpec, index: number, capacity: number, width: number) {
    super(spec, index, capacity);
    this.width = width;
    this.data = new Uint8Array(this.rowsHeld * width);
    this.scratch = new Int32Array(spec.precision <= 38 ? 4 : 8);
    this.le = new Uint8Array(this.scratch.buffer);
  }

  protected override resize(rows: number): void {
    this.data = grown(this.data, rows * this.width);
  }

  protected put(v: unknown): boolean {
    putDecimal(this.scratch, 0, v, this.spec.scale, this.scratch.length);
    const w = this.width;
    for (let t = 0; t < w; t++) this.data[this.pos + t] = this.le[w - 1 - t] as number;
    this.pos += w;
    return true;
  }

  values(): Uint8Array {
    return this.data.subarray(0, this.pos);
  }

  byteSize(): number {
    return this.pos;
  }

  override reset(): void {
    super.reset();
    this.pos = 0;
  }
}

/** UTF-8 text (VARCHAR/TEXT/JSON/TIME) and bytes (BINARY/VARBINARY/BLOB), PLAIN: a 4-byte length, then the bytes. */
export class BytesBuilder extends ColumnBuilder {
  protected data: Buffer;
  /** End of the PLAIN bytes written so far. */
  protected pos = 0;

  constructor(spec: ColumnSpec, index: number, capacity: number) {
    super(spec, index, capacity);
    // Grown by doubling as values arrive: a wide table's hundred text columns must not reserve 1.5 MB each up front.
    this.data = Buffer.allocUnsafe(Math.max(1024, Math.min(capacity * 24, 64 * 1024)));
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.data.length) return;
    if (need > 0x7fffffff) throw new Error("more than 2 GiB of data in one row group");
    const next = Buffer.allocUnsafe(Math.min(0x7fffffff, Math.max(need, this.data.length * 2)));
    this.data.copy(next, 0, 0, this.pos);
    this.data = next;
  }

  // A copy of ColumnBuilder.append per hot class: `this.put` is then monomorphic and inlined.
  override append(rows: readonly Row[], from: number, to: number): void {
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

  // A copy of ColumnBuilder.appendRaw per hot class, for the same reason.
  override appendRaw(raw: RawRows, from: number, to: number): void {
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

  /** Text arrives as UTF-8 (the connection's utf8mb4) and bytes as bytes: both are copied as they are. */
  protected override putRaw(buf: Buffer, at: number, len: number): boolean {
    this.ensure(len + 4);
    const d = this.data;
    const o = this.pos + 4;
    // Short values are cheaper to copy here than through a native call.
    if (len <= 32) for (let t = 0; t < len; t++) d[o + t] = buf[at + t] as number;
    else buf.copy(d, o, at, at + len);
    this.lengthAt(len);
    return true;
  }

  protected put(v: unknown): boolean {
    if (v instanceof Uint8Array) {
      this.ensure(v.length + 4);
      this.data.set(v, this.pos + 4);
      this.lengthAt(v.length);
      return true;
    }
    const s = typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
    const len = s.length;
    this.ensure(len * 3 + 4);
    const d = this.data;
    const at = this.pos + 4;
    // Short ASCII strings (phone numbers, codes) are cheaper to copy here than through a native utf8 write call.
    let i = 0;
    if (len <= 64) {
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 128) break;
        d[at + i] = c;
      }
    }
    this.lengthAt(i === len ? len : d.write(s, at, "utf8"));
    return true;
  }

  private lengthAt(n: number): void {
    const d = this.data;
    const p = this.pos;
    d[p] = n & 255;
    d[p + 1] = (n >>> 8) & 255;
    d[p + 2] = (n >>> 16) & 255;
    d[p + 3] = n >>> 24;
    this.pos = p + 4 + n;
  }

  values(): Uint8Array {
    return this.data.subarray(0, this.pos);
  }

  byteSize(): number {
    return this.pos;
  }

  override reset(): void {
    super.reset();
    this.pos = 0;
  }
}
