/**
 * Dictionary-encoded string columns: ENUM/SET always (few distinct values by definition), and text columns per row
 * group while a dictionary pays. Indices are written as RLE_DICTIONARY data (bit width of the dictionary size, one
 * bit-packed run, rle-hybrid.ts) after a dictionary page of PLAIN entries.
 */
import { BytesBuilder } from "./bytes-builder.ts";
import { ColumnBuilder, type DictionaryPage, grown, type Row } from "./column-builders.ts";
import type { ColumnSpec } from "./column-spec.ts";
import type { RawRows } from "./raw-rows.ts";
import { bitPackedRun } from "./rle-hybrid.ts";

/** Bits per index for a dictionary of `count` entries (at least 1: some readers reject width 0). */
const indexWidth = (count: number) => Math.max(1, 32 - Math.clz32(Math.max(0, count - 1)));

/** ENUM/SET (few distinct values): a per-row-group dictionary and one index per non-null value. */
export class DictionaryBuilder extends ColumnBuilder {
  private readonly ids = new Map<string, number>();
  /** Each entry's UTF-8 bytes, in id order. */
  private readonly entryBytes: Buffer[] = [];
  private indices: Int32Array;
  private n = 0;

  constructor(spec: ColumnSpec, index: number, capacity: number) {
    super(spec, index, capacity);
    this.indices = new Int32Array(this.rowsHeld);
  }

  protected override resize(rows: number): void {
    this.indices = grown(this.indices, rows);
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

  protected put(v: unknown): boolean {
    const s = typeof v === "string" ? v : String(v);
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.entryBytes.length;
      this.ids.set(s, id);
      this.entryBytes.push(Buffer.from(s, "utf8"));
    }
    this.indices[this.n++] = id;
    return true;
  }

  /** An ENUM has few values: comparing bytes with the few seen so far beats making a string to look up. */
  protected override putRaw(buf: Buffer, at: number, len: number): boolean {
    const seen = this.entryBytes;
    const count = seen.length <= 16 ? seen.length : 0;
    for (let id = 0; id < count; id++) {
      const e = seen[id] as Buffer;
      if (e.length !== len) continue;
      let t = 0;
      while (t < len && e[t] === buf[at + t]) t++;
      if (t === len) {
        this.indices[this.n++] = id;
        return true;
      }
    }
    return this.put(buf.toString("utf8", at, at + len));
  }

  override dictionary(): DictionaryPage {
    const parts = this.entryBytes;
    const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.writeInt32LE(p.length, at);
      out.set(p, at + 4);
      at += 4 + p.length;
    }
    return { bytes: out, count: parts.length };
  }

  /** RLE_DICTIONARY data: the bit width, then the indices as one bit-packed run. */
  values(): Uint8Array {
    return bitPackedRun(this.indices, this.n, indexWidth(this.entryBytes.length), true);
  }

  byteSize(): number {
    return this.n;
  }

  override reset(): void {
    super.reset();
    this.n = 0;
    this.ids.clear();
    this.entryBytes.length = 0;
  }
}

/** Non-null values looked at before deciding whether a row group's text column is worth a dictionary. */
export const PROBE_VALUES = 4096;
/** More distinct values than this share of the probed ones: (nearly) unique text, no dictionary for this row group. */
const PROBE_DISTINCT_SHARE = 0.75;
/** Row groups a column that did not get a dictionary skips before trying again (doubling after each miss). */
const MAX_BACKOFF_GROUPS = 16;

/**
 * Text (VARCHAR/TEXT): always writes the PLAIN bytes (BytesBuilder) and, while it tries a dictionary, also the index of
 * each value, so falling back costs nothing but the lookups done so far. It gives up on the row group as soon as the
 * first PROBE_VALUES values are mostly distinct or the dictionary's PLAIN bytes pass `maxDictBytes` (parquet-mr's 1 MiB
 * dictionary page), and at the end keeps the dictionary only if dictionary + indices are smaller than PLAIN.
 */
export class TextBuilder extends BytesBuilder {
  private readonly maxDictBytes: number;
  private readonly ids = new Map<string, number>();
  private indices: Int32Array;
  private dict: Buffer;
  private dictPos = 0;
  /** Non-null values indexed in this row group (all of them while trying). */
  private n = 0;
  private trying: boolean;
  private chosen: "dictionary" | "plain" | null = null;
  private backoff = 0;
  private skip = 0;

  constructor(spec: ColumnSpec, index: number, capacity: number, maxDictBytes: number) {
    super(spec, index, capacity);
    this.maxDictBytes = maxDictBytes;
    this.trying = maxDictBytes > 0;
    this.indices = new Int32Array(this.trying ? this.rowsHeld : 0);
    this.dict = Buffer.allocUnsafe(this.trying ? 4096 : 0);
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
    super.resize(rows);
    if (this.maxDictBytes > 0) this.indices = grown(this.indices, rows);
  }

  protected override put(v: unknown): boolean {
    if (!this.trying) return super.put(v);
    if (typeof v !== "string") {
      this.stopTrying();
      return super.put(v);
    }
    const start = this.pos;
    super.put(v);
    this.track(start);
    return true;
  }

  protected override putRaw(buf: Buffer, at: number, len: number): boolean {
    const start = this.pos;
    super.putRaw(buf, at, len);
    if (this.trying) this.track(start);
    return true;
  }

  /**
   * Indexes the value just written at data[start, pos). Its key is its UTF-8 bytes read as latin1 (one char per byte):
   * the same for a string and for wire bytes, and cheap to make.
   */
  private track(start: number): void {
    const key = this.data.toString("latin1", start + 4, this.pos);
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.ids.size;
      if (!this.addEntry(start)) return;
      this.ids.set(key, id);
    }
    this.indices[this.n++] = id;
    if (this.n === PROBE_VALUES && this.ids.size > PROBE_VALUES * PROBE_DISTINCT_SHARE) this.stopTrying();
  }

  /** Copies the value just written at data[start, pos) (length prefix included) into the dictionary; false = over the bound. */
  private addEntry(start: number): boolean {
    const len = this.pos - start;
    if (this.dictPos + len > this.maxDictBytes) {
      this.stopTrying();
      return false;
    }
    if (this.dictPos + len > this.dict.length) {
      const next = Buffer.allocUnsafe(Math.min(this.maxDictBytes, Math.max(this.dictPos + len, this.dict.length * 2)));
      this.dict.copy(next, 0, 0, this.dictPos);
      this.dict = next;
    }
    this.data.copy(this.dict, this.dictPos, start, this.pos);
    this.dictPos += len;
    return true;
  }

  private stopTrying(): void {
    this.trying = false;
    this.ids.clear();
  }

  override dictionary(): DictionaryPage | null {
    const indexBytes = Math.ceil((this.n * indexWidth(this.ids.size)) / 8);
    const pays = this.trying && this.n > 0 && this.dictPos + indexBytes < this.pos;
    this.chosen = pays ? "dictionary" : "plain";
    return pays ? { bytes: this.dict.subarray(0, this.dictPos), count: this.ids.size } : null;
  }

  override values(): Uint8Array {
    if (this.chosen === "dictionary") return bitPackedRun(this.indices, this.n, indexWidth(this.ids.size), true);
    return super.values();
  }

  override reset(): void {
    const used = this.chosen === "dictionary";
    super.reset();
    this.n = 0;
    this.dictPos = 0;
    this.ids.clear();
    this.chosen = null;
    if (this.maxDictBytes <= 0) return;
    if (used) this.backoff = 0;
    else if (this.skip === 0) {
      // This row group tried and missed: skip the next ones, longer after each miss.
      this.backoff = Math.min(MAX_BACKOFF_GROUPS, Math.max(1, this.backoff * 2));
      this.skip = this.backoff + 1;
    }
    if (this.skip > 0) this.skip--;
    this.trying = this.skip === 0;
  }
}
