/**
 * Takes a streamed text-protocol query's rows off mysql2 as bytes (RawRows), instead of letting its generated parser
 * build a JS value per column. mysql2 runs a command as a state machine: each packet goes to the function the previous
 * state returned, and `row` returns itself while rows arrive. Shadowing `row` on the one Query instance keeps all of
 * mysql2's framing, TLS, error packets, pause/resume and end-of-result handling; only the per-row parse is ours.
 * The driver's parser is kept, so a row can still be turned into exactly the values mysql2 would have delivered
 * (RawRows.row: cursor keys, and formats that need values).
 */
import type { Query } from "mysql2";
import { grown, RawRows, type Row, RowStorage } from "../output/encode/index.ts";

/** The parts of mysql2's Query and Packet this module relies on (mysql2 3.x). */
interface WirePacket {
  buffer: Buffer;
  offset: number;
  end: number;
  isEOF(): boolean;
}
type RowState = (packet: WirePacket, connection: unknown) => unknown;
interface QueryInternals {
  row: RowState;
  _rowParser: { next(packet: unknown, fields: unknown, options: unknown): Row };
  _currentFields: unknown;
  options: unknown;
}
type PacketClass = new (id: number, buffer: Buffer, start: number, end: number) => unknown;

export interface WireRowsOptions {
  /** Values per row (columns of the select list). */
  stride: number;
  /** A batch is complete at this many rows... */
  batchRows: number;
  /** ...or once its rows' bytes reach this. */
  batchBytes: number;
  /** Called, inside the driver's packet handler, with each complete batch. */
  onBatch(batch: RawRows): void;
}

/** Collects the rows of `query` into RawRows batches; `flush()` hands out the partial batch at the end (or null). */
export function collectWireRows(query: Query, opts: WireRowsOptions): { flush(): RawRows | null } {
  const q = query as unknown as QueryInternals;
  const original = Object.getPrototypeOf(q).row as RowState;
  const rows = Math.min(opts.batchRows, 256);
  // Buffers of batches every view of which is done (RawRows.done), refilled instead of allocating new ones.
  const spare: Storage[] = [];
  const recycle = (s: Storage) => {
    if (spare.length < SPARE_BATCHES) spare.push(s);
  };
  let batch = new BatchBuilder({ stride: opts.stride, rows, bytes: 64 * 1024, recycle });
  let driver: { parse(packet: unknown): Row; Packet: PacketClass } | null = null;
  const row: RowState = function (this: QueryInternals, packet, connection) {
    if (packet.isEOF()) return original.call(this, packet, connection);
    driver ??= {
      parse: (p) => q._rowParser.next(p, q._currentFields, q.options),
      Packet: (packet as unknown as { constructor: PacketClass }).constructor,
    };
    try {
      batch.add(packet);
    } catch (err) {
      // Ends the command: the reader fails the query on this error and destroys the connection.
      (this as unknown as NodeJS.EventEmitter).emit("error", err);
      return null;
    }
    if (batch.length >= opts.batchRows || batch.bytes >= opts.batchBytes) {
      const used = batch.bytes;
      const full = batch.finish(driver);
      // The next batch starts at this one's size (its bytes, not its buffer, which may have doubled past them): rows
      // of a table are much alike, so it rarely grows.
      batch = new BatchBuilder({ stride: opts.stride, rows: full.length, bytes: Math.ceil(used * 1.125), recycle, reuse: spare.pop() });
      opts.onBatch(full);
    }
    return row;
  };
  q.row = row;
  return { flush: () => (batch.length && driver ? batch.finish(driver) : null) };
}

/** Batches whose buffers are kept for reuse: the reader holds about three batches, the encoder one or two. */
const SPARE_BATCHES = 4;

/** A batch's buffers. */
interface Storage {
  buf: Buffer;
  starts: Int32Array;
  lens: Int32Array;
  bounds: Int32Array;
}

/** One batch being filled: the rows' payloads copied end to end, with each value's offset and length. */
class BatchBuilder {
  private readonly stride: number;
  private readonly recycle: (s: Storage) => void;
  private buf: Buffer;
  /** End of the payloads so far; they start at 4, so every row has room for the header the driver's packets carry. */
  bytes = 4;
  length = 0;
  private starts: Int32Array;
  private lens: Int32Array;
  /** Start and end in `buf` of each row's payload, for the driver's parser. */
  private bounds: Int32Array;

  /** `reuse`: a finished batch's buffers, taken when large enough (a row that needs more grows them as usual). */
  constructor(o: { stride: number; rows: number; bytes: number; recycle: (s: Storage) => void; reuse?: Storage }) {
    const { stride, rows, bytes, reuse } = o;
    this.stride = stride;
    this.recycle = o.recycle;
    const fits = reuse && reuse.buf.length >= bytes && reuse.starts.length >= rows * stride && reuse.bounds.length >= rows * 2;
    this.buf = fits ? reuse.buf : Buffer.allocUnsafe(bytes);
    this.starts = fits ? reuse.starts : new Int32Array(rows * stride);
    this.lens = fits ? reuse.lens : new Int32Array(rows * stride);
    this.bounds = fits ? reuse.bounds : new Int32Array(rows * 2);
  }

  add(packet: WirePacket): void {
    const src = packet.buffer;
    const from = packet.offset;
    const size = packet.end - from;
    this.room(size);
    const base = this.bytes;
    src.copy(this.buf, base, from, packet.end);
    const r = this.length;
    this.bounds[2 * r] = base;
    this.bounds[2 * r + 1] = base + size;
    this.scan(base, base + size, r * this.stride);
    this.bytes = base + size;
    this.length = r + 1;
  }

  /** Reads each value's length-encoded header (0xfb = NULL; 0xfc/0xfd/0xfe: 2/3/8-byte lengths). */
  private scan(p: number, end: number, k: number): void {
    const b = this.buf;
    const starts = this.starts;
    const lens = this.lens;
    for (let c = 0; c < this.stride; c++, k++) {
      if (p >= end) throw new Error(`a row of ${c} values where the query has ${this.stride} columns`);
      const h = b[p] as number;
      let len: number;
      if (h < 0xfb) {
        len = h;
        p += 1;
      } else if (h === 0xfb) {
        lens[k] = -1;
        p += 1;
        continue;
      } else if (h === 0xfc) {
        len = b.readUInt16LE(p + 1);
        p += 3;
      } else if (h === 0xfd) {
        len = b.readUIntLE(p + 1, 3);
        p += 4;
      } else {
        len = Number(b.readBigUInt64LE(p + 1));
        p += 9;
      }
      starts[k] = p;
      lens[k] = len;
      p += len;
    }
  }

  /** Makes room for one more row of `size` bytes. */
  private room(size: number): void {
    if (this.bytes + size > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.bytes + size, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.bytes);
      this.buf = next;
    }
    if ((this.length + 1) * this.stride > this.starts.length) {
      this.starts = grown(this.starts, this.starts.length * 2);
      this.lens = grown(this.lens, this.lens.length * 2);
      this.bounds = grown(this.bounds, this.bounds.length * 2);
    }
  }

  finish(driver: { parse(packet: unknown): Row; Packet: PacketClass }): RawRows {
    const { buf, bounds, starts, lens } = this;
    return new RawRows({
      buf,
      stride: this.stride,
      length: this.length,
      starts,
      lens,
      storage: new RowStorage(() => this.recycle({ buf, starts, lens, bounds })),
      // A driver Packet's payload begins 4 bytes after its start (the header).
      materialize: (r) => driver.parse(new driver.Packet(0, buf, (bounds[2 * r] as number) - 4, bounds[2 * r + 1] as number)),
    });
  }
}
