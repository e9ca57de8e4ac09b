/**
 * A minimal Thrift compact-protocol writer: just what Parquet's PageHeader and FileMetaData need (structs, i8/i32/i64,
 * bool, binary/string, lists of structs, i32s and strings). Field ids are written as deltas from the previous field of the
 * same struct, so fields must be written in ascending id order, and every struct ends with end().
 */

/** Compact-protocol type ids. */
const CT = { TRUE: 1, FALSE: 2, BYTE: 3, I32: 5, I64: 6, BINARY: 8, LIST: 9, STRUCT: 12 } as const;

const utf8 = new TextEncoder();

export class ThriftWriter {
  private buf = new Uint8Array(256);
  private pos = 0;
  private lastField = 0;
  private readonly stack: number[] = [];

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^53 (plain numbers: no BigInt on this path). */
  private varint(n: number): void {
    this.ensure(10);
    while (n >= 128) {
      this.buf[this.pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  /** Zigzag varint of a safe integer (i32 and i64 alike). */
  private zigzag(n: number): void {
    this.varint(n >= 0 ? n * 2 : -n * 2 - 1);
  }

  private field(id: number, type: number): void {
    const delta = id - this.lastField;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.zigzag(id);
    }
    this.lastField = id;
  }

  i32(id: number, v: number): this {
    this.field(id, CT.I32);
    this.zigzag(v);
    return this;
  }

  i64(id: number, v: number): this {
    this.field(id, CT.I64);
    this.zigzag(v);
    return this;
  }

  i8(id: number, v: number): this {
    this.field(id, CT.BYTE);
    this.byte(v & 0xff);
    return this;
  }

  bool(id: number, v: boolean): this {
    this.field(id, v ? CT.TRUE : CT.FALSE);
    return this;
  }

  binary(id: number, v: Uint8Array | string): this {
    this.field(id, CT.BINARY);
    this.rawBinary(v);
    return this;
  }

  private rawBinary(v: Uint8Array | string): void {
    const b = typeof v === "string" ? utf8.encode(v) : v;
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Opens a nested struct field; close it with end(). */
  struct(id: number): this {
    this.field(id, CT.STRUCT);
    this.stack.push(this.lastField);
    this.lastField = 0;
    return this;
  }

  /** Ends the current struct (also the outermost one). */
  end(): this {
    this.byte(0);
    this.lastField = this.stack.pop() ?? 0;
    return this;
  }

  private listHeader(id: number, size: number, elem: number): void {
    this.field(id, CT.LIST);
    if (size < 15) this.byte((size << 4) | elem);
    else {
      this.byte(0xf0 | elem);
      this.varint(size);
    }
  }

  listI32(id: number, values: readonly number[]): this {
    this.listHeader(id, values.length, CT.I32);
    for (const v of values) this.zigzag(v);
    return this;
  }

  listString(id: number, values: readonly string[]): this {
    this.listHeader(id, values.length, CT.BINARY);
    for (const v of values) this.rawBinary(v);
    return this;
  }

  /** A list of structs: `each` writes the fields of one element (without its end(), which is added here). */
  listStruct<T>(id: number, items: readonly T[], each: (w: this, item: T) => void): this {
    this.listHeader(id, items.length, CT.STRUCT);
    for (const item of items) {
      this.stack.push(this.lastField);
      this.lastField = 0;
      each(this, item);
      this.end();
    }
    return this;
  }
}
