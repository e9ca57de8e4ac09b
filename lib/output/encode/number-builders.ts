/**
 * The fixed-width column builders (column-builders.ts has the contract): INT32-, INT64- and FIXED_LEN_BYTE_ARRAY-stored
 * kinds, filled from the driver's values or parsed from the wire bytes where they lie.
 */
import { ColumnBuilder, grown, type Row } from "./column-builders.ts";
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
