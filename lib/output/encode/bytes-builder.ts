/** Text and bytes (column-builders.ts has the contract): PLAIN BYTE_ARRAY, copied from the wire bytes as they are. */
import { ColumnBuilder, type Row } from "./column-builders.ts";
import type { ColumnSpec } from "./column-spec.ts";
import type { RawRows } from "./raw-rows.ts";

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
