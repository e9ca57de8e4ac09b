/**
 * NDJSON and CSV lines written straight from the rows' wire bytes (raw-rows.ts), under the conventions of
 * text-encoders.ts. The server's text of most values already is their CSV field or JSON token (digits, DECIMAL,
 * dates, text), so the bytes are copied, quoted or escaped where they lie: no JS string or number is made for a value,
 * which is what rendering the driver's row arrays cost (~1.7 µs of each call-log row went to mysql2's per-value
 * conversion before a byte was written). The few values whose text differs from the driver's rendering (integers with
 * leading zeros (ZEROFILL), FLOAT/DOUBLE in exponent form, BIT) are converted one by one; a 64-bit ZEROFILL value,
 * whose text mysql2 keeps or strips depending on its size, goes through the driver's own row, so both paths write the
 * same bytes (test/stack/encode-types.test.ts compares them for every type).
 */
import type { Row } from "./column-builders.ts";
import type { ColumnSpec } from "./column-spec.ts";
import { valueError } from "./encoder.ts";
import type { RawRows } from "./raw-rows.ts";
import { CSV_SPECIAL_BYTE, copyBytes, csvField, csvText, dateText, digits, floatText, jsonText, paddedInt } from "./text-fields.ts";
import { bitValue, parseDateDaysBytes, ZERO_DATE } from "./values.ts";

/** A column's value as text from the driver's value (text-encoders.ts): JSON text or a raw CSV field; null for NULL. */
export type Render = (v: unknown) => string | null;

export interface Counters {
  nulls: number;
  zeroDates: number;
}

// How a column's wire text becomes its field (one small integer per column, switched on in the row loop).
const INT = 0; // 8..32-bit integers, YEAR: the digits, unless ZEROFILL padded them
const INT64 = 1; // BIGINT: the digits (quoted in JSON), ZEROFILL through the driver
const DIGITS = 2; // DECIMAL: the text (quoted in JSON)
const FLOAT = 3; // FLOAT, DOUBLE: the number's shortest text, as String(number) prints it
const DATE = 4; // DATE, DATETIME: the text (quoted in JSON); zero dates are NULL
const STAMP = 5; // TIMESTAMP: RFC 3339 in UTC
const TEXT = 6; // text, JSON, ENUM, SET, TIME: quoted/escaped as needed
const BASE64 = 7; // binary
const BIT = 8; // BIT(n): its integer value

function modeOf(c: ColumnSpec): number {
  switch (c.kind) {
    case "int8":
    case "int16":
    case "int32":
    case "uint8":
    case "uint16":
    case "uint32":
    case "year":
      return INT;
    case "int64":
    case "uint64":
      return INT64;
    case "decimal":
      return DIGITS;
    case "float":
    case "double":
      return FLOAT;
    case "date":
    case "datetime":
      return DATE;
    case "timestamp":
      return STAMP;
    case "binary":
      return BASE64;
    case "bit":
      return BIT;
    default:
      return TEXT;
  }
}

/** Buffers render() keeps for reuse (recycle). */
const SPARE_BUFFERS = 4;
/** Bytes a value may need beyond its own (quotes, a converted number, a JSON key is counted apart). */
const SLACK = 48;

/**
 * Renders batches of wire rows as NDJSON or CSV lines (no header). `renders` are the driver-value renderers of the
 * same columns, used for the rare value that goes through the driver's row; `counters` are shared with them.
 */
export class WireTextRenderer {
  private readonly columns: readonly ColumnSpec[];
  private readonly json: boolean;
  private readonly renders: Render[];
  private readonly counters: Counters[];
  private readonly modes: Int8Array;
  /**
   * CSV whose every column can stand as it is (no FLOAT, TIMESTAMP, binary or BIT column): only then is a row tried as
   * one copy, so a table that never qualifies does not check each row twice.
   */
  private readonly rowCopy: boolean;
  /** NDJSON: `{"name":` / `,"name":` per column, as bytes. */
  private readonly keys: Buffer[];
  private readonly keyBytes: number;
  private dst: Buffer = Buffer.allocUnsafe(1024 * 1024);
  private p = 0;
  private readonly spare: Buffer[] = [];

  constructor(o: { columns: readonly ColumnSpec[]; json: boolean; renders: Render[]; counters: Counters[] }) {
    this.columns = o.columns;
    this.json = o.json;
    this.renders = o.renders;
    this.counters = o.counters;
    this.modes = Int8Array.from(o.columns, modeOf);
    this.rowCopy = !o.json && this.modes.every((m) => m === INT || m === INT64 || m === DIGITS || m === DATE || m === TEXT);
    this.keys = o.json ? o.columns.map((c, i) => Buffer.from(`${i === 0 ? "{" : ","}${JSON.stringify(c.name)}:`)) : [];
    this.keyBytes = this.keys.reduce((n, k) => n + k.length, 0);
  }

  /** The lines of `raw`'s rows; `firstRow` (rows written before the batch) only numbers a row in a value error. */
  render(raw: RawRows, firstRow: number): Buffer {
    const { buf, lens, stride } = raw;
    const ncol = this.columns.length;
    // Worst case per value byte: a JSON \u00XX escape (6), a doubled CSV quote (2).
    const perByte = this.json ? 6 : 2;
    this.p = 0;
    for (let r = 0; r < raw.length; r++) {
      if (this.rowCopy && this.csvRow(raw, r)) continue;
      let bytes = 0;
      for (let j = 0, at = r * stride; j < ncol; j++, at++) bytes += Math.max(0, lens[at] as number);
      this.reserve(bytes * perByte + ncol * SLACK + this.keyBytes + 2);
      let row: Row | null = null;
      for (let j = 0; j < ncol; j++) {
        if (this.json) this.p = copyBytes(this.dst, this.p, this.keys[j] as Buffer, 0, (this.keys[j] as Buffer).length);
        else if (j > 0) this.dst[this.p++] = 0x2c;
        const at = r * stride + j;
        const len = lens[at] as number;
        try {
          if (len < 0) this.nullValue(j);
          else if (!this.value(j, buf, raw.starts[at] as number, len)) {
            row ??= raw.row(r);
            this.driverValue(j, row[j]);
          }
        } catch (err) {
          throw valueError(this.columns[j] as ColumnSpec, firstRow + r, err);
        }
      }
      if (this.json) this.dst[this.p++] = 0x7d;
      this.dst[this.p++] = 0x0a;
    }
    const out = this.dst.subarray(0, this.p);
    // The encoder hands `out` on (to the compressor or the object's stream): the next batch writes into another buffer.
    this.dst = this.spare.pop() ?? Buffer.allocUnsafe(this.dst.length);
    return out;
  }

  /**
   * Takes back a buffer render() returned, once its reader is done with it (the compressor's write callback). Fresh
   * megabytes per batch made V8 run a full GC every ~100 ms for the external memory alone (3.3 of 24 CPU s of a
   * 5 M-row CSV export); a few buffers taken in turn do not.
   */
  recycle(out: Buffer): void {
    if (this.spare.length < SPARE_BUFFERS && out.byteOffset === 0) this.spare.push(Buffer.from(out.buffer));
  }

  /**
   * CSV of row r in one copy, when each of its values is its own field (digits, non-zero dates, text with nothing to
   * quote, NULL) with a one-byte length header: the row's payload up to its last exported value is copied whole, and
   * each header byte after the first becomes the comma before its field. (The source appends the key's text after the
   * exported columns, so rows do not lie end to end in what is exported.) False, nothing written, for any other row:
   * render() writes it value by value.
   */
  private csvRow(raw: RawRows, r: number): boolean {
    const { buf, starts, lens } = raw;
    const base = r * raw.stride;
    const ncol = this.modes.length;
    if ((lens[base] as number) < 0) return false;
    const first = starts[base] as number;
    let pos = first - 1;
    for (let j = 0; j < ncol; j++) {
      const len = lens[base + j] as number;
      if (len < 0) {
        if (buf[pos] !== 0xfb) return false;
        pos += 1;
        continue;
      }
      if (len >= 0xfb || (starts[base + j] as number) !== pos + 1 || !this.plainField(j, buf, pos + 1, len)) return false;
      pos += 1 + len;
    }
    this.reserve(pos - first + 1);
    const dst = this.dst;
    const p = this.p - first;
    buf.copy(dst, this.p, first, pos);
    // Value j's header sits just before its bytes (a NULL's is its 0xfb byte).
    let h = first + (lens[base] as number);
    for (let j = 1; j < ncol; j++) {
      dst[p + h] = 0x2c;
      const len = lens[base + j] as number;
      if (len < 0) (this.counters[j] as Counters).nulls++;
      h += 1 + Math.max(0, len);
    }
    dst[p + pos] = 0x0a;
    this.p = p + pos + 1;
    return true;
  }

  /** True when value j's wire text is its CSV field as it stands. */
  private plainField(j: number, b: Buffer, at: number, len: number): boolean {
    switch (this.modes[j]) {
      case INT:
      case INT64:
        return !paddedInt(b, at, len);
      case DIGITS:
        return true;
      case DATE:
        // A bad date is left to the value-by-value path, which reports it with its column and row.
        try {
          return parseDateDaysBytes(b, at, len) !== ZERO_DATE;
        } catch {
          return false;
        }
      case TEXT:
        if (len === 0) return false;
        for (let k = at, end = at + len; k < end; k++) if (CSV_SPECIAL_BYTE[b[k] as number] === 1) return false;
        return true;
      default:
        return false;
    }
  }

  private reserve(n: number): void {
    if (this.p + n <= this.dst.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.dst.length * 2, this.p + n));
    this.dst.copy(b, 0, 0, this.p);
    this.dst = b;
  }

  private ascii(s: string): void {
    this.reserve(s.length);
    this.p += this.dst.write(s, this.p, "latin1");
  }

  private nullValue(j: number): void {
    (this.counters[j] as Counters).nulls++;
    if (this.json) this.ascii("null");
  }

  /** Writes value j from its wire text; false when only the driver's value renders it exactly. */
  private value(j: number, b: Buffer, at: number, len: number): boolean {
    const json = this.json;
    const dst = this.dst;
    switch (this.modes[j]) {
      case INT:
        if (paddedInt(b, at, len)) this.ascii(String(Number.parseInt(b.toString("latin1", at, at + len), 10)));
        else this.p = copyBytes(dst, this.p, b, at, len);
        return true;
      case INT64:
        if (paddedInt(b, at, len)) return false;
        this.p = digits(dst, this.p, b, at, len, json);
        return true;
      case DIGITS:
        this.p = digits(dst, this.p, b, at, len, json);
        return true;
      case FLOAT:
        this.ascii(floatText(b.toString("latin1", at, at + len), json));
        return true;
      case DATE:
      case STAMP:
        if (parseDateDaysBytes(b, at, len) === ZERO_DATE) {
          (this.counters[j] as Counters).zeroDates++;
          this.nullValue(j);
        } else this.p = dateText(dst, this.p, b, at, len, json, this.modes[j] === STAMP);
        return true;
      case BASE64: {
        const s = b.toString("base64", at, at + len);
        this.ascii(json || s.length === 0 ? `"${s}"` : s);
        return true;
      }
      case BIT: {
        const s = bitValue(b.subarray(at, at + len)).toString();
        this.ascii(json && (this.columns[j] as ColumnSpec).bits > 32 ? `"${s}"` : s);
        return true;
      }
      default:
        this.p = json ? jsonText(dst, this.p, b, at, len) : csvText(dst, this.p, b, at, len);
        return true;
    }
  }

  private driverValue(j: number, v: unknown): void {
    const t = (this.renders[j] as Render)(v);
    if (t === null) {
      this.nullValue(j);
      return;
    }
    const s = this.json ? t : csvField(t);
    this.reserve(Buffer.byteLength(s));
    this.p += this.dst.write(s, this.p, "utf8");
  }
}
