/**
 * Streaming Parquet encoder written by hand (no Parquet library): the driver's row arrays are appended column by column
 * into builders that already hold Parquet PLAIN bytes (column-builders.ts). A full row group becomes one uncompressed
 * data page per column (a dictionary page first for ENUM/SET, and for text while a dictionary pays), laid out in one
 * ArrayBuffer that is transferred to a worker thread (parquet-worker.ts) which compresses the pages and computes
 * statistics while this thread fills the next row group (the buffer comes back with the result, for a later row group). Row groups are written to `output` in order as they come back (magic, row groups, then the footer), so memory
 * is bounded by the row group being filled plus MAX_IN_FLIGHT row groups being compressed.
 */
import { Worker } from "node:worker_threads";
import { createBuilder } from "./builder-factory.ts";
import type { ColumnBuilder, Row } from "./column-builders.ts";
import type { ColumnSpec } from "./column-spec.ts";
import { ByteOutput, type Compression, type Encoder, type EncoderOptions, type EncoderStats, statsOf, valueError } from "./encoder.ts";
import { compressPages, type PageJob, type PageResult, type PageSpec } from "./page-compressor.ts";
import {
  type ChunkMeta,
  Codec,
  Encoding,
  footer,
  MAGIC,
  type ParquetColumn,
  Physical,
  pageHeader,
  parquetColumn,
  type RowGroupMeta,
} from "./parquet-format.ts";
import type { WorkerReply } from "./parquet-worker.ts";
import { RawRows } from "./raw-rows.ts";
import { definitionLevels } from "./rle-hybrid.ts";

/**
 * Row groups close at 8 MiB of column data (call-log rows reach the 65,536-row limit at ~5 MB): with one filling and
 * two compressing, wide and 1 MB rows stay within an agent's memory bound (300 MB a process).
 */
const DEFAULT_ROW_GROUP_BYTES = 8 * 1024 * 1024;

/** Runs compression jobs in one worker thread shared by all encoders of the process, or in this thread ("inline"). */
class CompressorHost {
  private readonly mode: "worker" | "inline";
  private readonly pending = new Map<number, { resolve: (r: PageResult) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private worker: Worker | null = null;
  /** A row group buffer back from the compressor, for the next row group (so neither thread leaves 8 MiB of garbage). */
  private spare: ArrayBuffer | null = null;

  constructor(mode: "worker" | "inline") {
    this.mode = mode;
  }

  private start(): Worker {
    const here = import.meta.url;
    // Next to this module: the .ts source (Node 24 strips its types in the worker too), or parquet-worker.mjs next to
    // a bundle (the agent's, or the built CLI's).
    const worker = new Worker(new URL(here.endsWith(".ts") ? "./parquet-worker.ts" : "./parquet-worker.mjs", here));
    worker.on("message", (m: WorkerReply) => {
      const id = m.ok ? m.result.id : m.id;
      if (m.ok) this.recycle(m.input);
      const p = this.pending.get(id);
      this.pending.delete(id);
      if (this.pending.size === 0) worker.unref();
      if (m.ok) p?.resolve(m.result);
      else p?.reject(new Error(m.message));
    });
    worker.on("error", (err) => {
      // A dead worker fails every job it held; the next job starts a new one.
      this.worker = null;
      for (const p of this.pending.values()) p.reject(new Error(`parquet worker failed: ${err.message}`));
      this.pending.clear();
    });
    worker.unref();
    return worker;
  }

  /** A buffer of at least `bytes` for a row group's pages: the spare one when it is large enough. */
  buffer(bytes: number): Uint8Array<ArrayBuffer> {
    const spare = this.spare;
    if (spare && spare.byteLength >= bytes) {
      this.spare = null;
      return new Uint8Array(spare, 0, bytes);
    }
    // Some slack: the next row groups of the same table are about as large, and a little larger ones still fit.
    return new Uint8Array(new ArrayBuffer(bytes + (bytes >> 4)), 0, bytes);
  }

  private recycle(buf: ArrayBuffer): void {
    if (!this.spare || this.spare.byteLength < buf.byteLength) this.spare = buf;
  }

  submit(job: Omit<PageJob, "id">): Promise<PageResult> {
    const full: PageJob = { ...job, id: this.nextId++ };
    if (this.mode === "inline") {
      return compressPages(full).then((r) => {
        this.recycle(full.buf);
        return r;
      });
    }
    this.worker ??= this.start();
    const worker = this.worker;
    return new Promise((resolve, reject) => {
      this.pending.set(full.id, { resolve, reject });
      worker.ref();
      worker.postMessage(full, [full.buf]);
    });
  }
}

const hosts: Partial<Record<"worker" | "inline", CompressorHost>> = {};
function hostFor(mode: "worker" | "inline"): CompressorHost {
  hosts[mode] ??= new CompressorHost(mode);
  return hosts[mode];
}

/** Row groups handed to the compressor and not yet written: one compressing while the next one is filled. */
const MAX_IN_FLIGHT = 2;

/** What a row group's column chunk needs besides its compressed pages. */
interface ChunkLayout {
  numValues: number;
  nullCount: number;
  dictCount: number;
  /** Page indices in the job: the dictionary page (or -1: PLAIN this row group) and the data page. */
  dictPage: number;
  dataPage: number;
  /** min/max from the builder (BOOLEAN), when the compressor computes none. */
  bounds: [Uint8Array, Uint8Array] | null;
}

const align8 = (n: number) => (n + 7) & ~7;

/** What a row group is encoded from; fixed for the life of one encoder. */
interface RowGroupSource {
  builders: ColumnBuilder[];
  pcols: ParquetColumn[];
  compression: Compression;
  /** Try DELTA_BINARY_PACKED on INT32/INT64 data pages (EncoderOptions.deltaEncoding). */
  delta: boolean;
}

/** The width of the values the compressor may try as DELTA_BINARY_PACKED: INT32 and INT64 only. */
const deltaWidth = (c: ParquetColumn): PageSpec["delta"] => (c.physical === Physical.INT32 ? 4 : c.physical === Physical.INT64 ? 8 : 0);

/** A row group taken from the builders: the compression job of its uncompressed pages, and its column chunks' layout. */
interface TakenRowGroup {
  job: Omit<PageJob, "id">;
  layout: ChunkLayout[];
  numRows: number;
}

/** Lays out the current row group's uncompressed pages in one buffer and resets the builders. */
function takeRowGroup(source: RowGroupSource, host: CompressorHost): TakenRowGroup {
  const { builders, pcols, compression } = source;
  const numRows = (builders[0] as ColumnBuilder).length;
  const bodies: { def: Uint8Array | null; values: Uint8Array; stats: PageSpec["stats"]; delta: PageSpec["delta"] }[] = [];
  const layout: ChunkLayout[] = [];
  for (const [i, b] of builders.entries()) {
    const col = pcols[i] as ParquetColumn;
    // Decided per row group (text falls back to PLAIN when a dictionary does not pay); its statistics are the
    // dictionary's entries, which are exactly the distinct values.
    const d = b.dictionary();
    const dictPage = d ? bodies.length : -1;
    if (d) bodies.push({ def: null, values: d.bytes, stats: col.stats, delta: 0 });
    layout.push({
      numValues: numRows,
      nullCount: b.nullCount,
      dictCount: d?.count ?? 0,
      dictPage,
      dataPage: bodies.length,
      bounds: b.bounds(),
    });
    const delta = d || !source.delta ? 0 : deltaWidth(col);
    bodies.push({ def: b.spec.nullable ? definitionLevels(b) : null, values: b.values(), stats: d ? null : col.stats, delta });
  }
  // Values start 8-byte aligned so the compressor can read them through typed arrays for statistics.
  const pages: PageSpec[] = [];
  let at = 0;
  for (const p of bodies) {
    const defLen = p.def?.length ?? 0;
    const valuesOff = align8(at + defLen);
    pages.push({
      off: valuesOff - defLen,
      len: defLen + p.values.length,
      stats: p.stats,
      valuesOff,
      valuesLen: p.values.length,
      delta: p.delta,
    });
    at = valuesOff + p.values.length;
  }
  const buf = host.buffer(at);
  for (const [k, p] of bodies.entries()) {
    const s = pages[k] as PageSpec;
    if (p.def) buf.set(p.def, s.off);
    buf.set(p.values, s.valuesOff);
  }
  for (const b of builders) b.reset();
  return { job: { codec: compression, buf: buf.buffer, pages }, layout, numRows };
}

/** The bytes pushed to an encoder's output, in file order: magic, row groups, footer; and the offsets the footer needs. */
class ParquetFile {
  private readonly out: ByteOutput;
  private readonly pcols: ParquetColumn[];
  private readonly compression: Compression;
  /** File offset of the next byte. */
  private written = 0;
  private readonly rowGroups: RowGroupMeta[] = [];

  constructor(o: { out: ByteOutput; pcols: ParquetColumn[]; compression: Compression }) {
    this.out = o.out;
    this.pcols = o.pcols;
    this.compression = o.compression;
  }

  private emit(bytes: Uint8Array): void {
    this.out.push(bytes);
    this.written += bytes.length;
  }

  /** Writes one compressed row group: per column an optional dictionary page, then the data page. */
  writeRowGroup({ layout, numRows }: TakenRowGroup, r: PageResult): void {
    if (this.written === 0) this.emit(MAGIC);
    const fileOffset = this.written;
    const chunks: ChunkMeta[] = layout.map((c, i) => {
      const column = this.pcols[i] as ParquetColumn;
      let uncompressed = 0;
      let compressed = 0;
      const page = (k: number, kind: "data" | "dictionary") => {
        const res = r.pages[k] as PageResult["pages"][number];
        const encoding =
          kind === "dictionary" || c.dictPage < 0 ? (res.delta ? Encoding.DELTA_BINARY_PACKED : Encoding.PLAIN) : Encoding.RLE_DICTIONARY;
        const header = pageHeader(kind, res.rawLen, res.len, kind === "data" ? c.numValues : c.dictCount, encoding);
        const offset = this.written;
        this.emit(header);
        this.emit(new Uint8Array(r.buf, res.off, res.len));
        uncompressed += header.length + res.rawLen;
        compressed += header.length + res.len;
        return { offset, res };
      };
      const dict = c.dictPage >= 0 ? page(c.dictPage, "dictionary") : null;
      const data = page(c.dataPage, "data");
      const stats = dict?.res.min ? dict.res : data.res;
      const [min, max] = stats.min ? [stats.min, stats.max] : (c.bounds ?? [null, null]);
      return {
        column,
        codec: Codec[this.compression],
        numValues: c.numValues,
        nullCount: c.nullCount,
        uncompressed,
        compressed,
        dataPageOffset: data.offset,
        dictionaryPageOffset: dict?.offset ?? null,
        delta: data.res.delta,
        min,
        max,
        exact: stats.exact,
      };
    });
    this.rowGroups.push({ columns: chunks, numRows, fileOffset });
  }

  writeFooter(rows: number, columns: readonly ColumnSpec[]): void {
    this.emit(footer(this.pcols, this.rowGroups, rows, { "spotferry.columns": JSON.stringify(columnMetadata(columns)) }, CREATED_BY));
  }
}

/**
 * Row groups on their way into the file: compressed by the host, written strictly in row group order whatever order
 * jobs finish in, with at most MAX_IN_FLIGHT of them compressing. The encoder owns the failure (`failed` reads it, `fail`
 * records one) and calls `wake` when it fails, so a flush waiting for room stops waiting.
 */
function rowGroupQueue(o: {
  source: RowGroupSource;
  host: CompressorHost;
  file: ParquetFile;
  out: ByteOutput;
  failed: () => Error | null;
  fail: (err: Error) => void;
}) {
  const { source, host, file, out, failed, fail } = o;
  let inFlight = 0;
  let tail: Promise<void> = Promise.resolve();
  let wake: (() => void) | null = null;
  return {
    wake: () => wake?.(),
    /** Settles once every row group submitted so far is written (or has failed). */
    drained: () => tail,
    /** Submits the rows in the builders as one row group, then waits for room in the queue and in `out`. */
    async flush(): Promise<void> {
      if ((source.builders[0] as ColumnBuilder).length === 0) return;
      const group = takeRowGroup(source, host);
      const compressing = host.submit(group.job);
      inFlight++;
      tail = tail.then(async () => {
        try {
          const r = await compressing;
          if (!failed()) file.writeRowGroup(group, r);
        } catch (err) {
          fail(new Error("compressing a Parquet row group", { cause: err }));
        } finally {
          inFlight--;
          wake?.();
        }
      });
      while (inFlight >= MAX_IN_FLIGHT && !failed()) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
      await out.ready();
      const failure = failed();
      if (failure) throw failure;
    },
  };
}

export function createParquetEncoder(columns: readonly ColumnSpec[], opts: EncoderOptions = {}): Encoder {
  if (columns.length === 0) throw new Error("a Parquet file needs at least one column");
  const compression = opts.compression ?? "zstd";
  const rowGroupRows = opts.rowGroupRows ?? 65_536;
  const maxRowGroupBytes = opts.maxRowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES;
  const pcols = columns.map((c) => parquetColumn(c, { tinyint1AsBoolean: opts.tinyint1AsBoolean === true }));
  const maxDictBytes = opts.dictionaryMaxBytes ?? 1024 * 1024;
  const builders: ColumnBuilder[] = pcols.map((p, i) => createBuilder(p, i, rowGroupRows, { maxDictBytes }));
  const out = new ByteOutput(opts.highWaterMark ?? 8 * 1024 * 1024);
  const host = hostFor(opts.threads ?? "worker");
  const file = new ParquetFile({ out, pcols, compression });

  let rows = 0;
  let failure: Error | null = null;
  let closed = false;
  const fail = (err: Error) => {
    if (failure) return;
    failure = err;
    closed = true;
    out.destroy(err);
    queue.wake();
  };
  const source = { builders, pcols, compression, delta: opts.deltaEncoding !== false };
  const queue = rowGroupQueue({ source, host, file, out, failed: () => failure, fail });

  return {
    format: "parquet",
    extension: ".parquet",
    contentType: "application/vnd.apache.parquet",
    columns,
    output: out.readable,
    async write(batch) {
      if (failure) throw failure;
      if (closed) throw new Error("write after end");
      const raw = batch instanceof RawRows ? batch : null;
      let from = 0;
      while (from < batch.length) {
        const first = builders[0] as ColumnBuilder;
        const to = Math.min(batch.length, from + (rowGroupRows - first.length));
        for (const b of builders) {
          try {
            if (raw) b.appendRaw(raw, from, to);
            else b.append(batch as readonly Row[], from, to);
          } catch (err) {
            // The builder state is unusable now, so the object is abandoned.
            const e = valueError(b.spec, rows + from, err);
            fail(e);
            throw e;
          }
        }
        rows += to - from;
        from = to;
        if (first.length >= rowGroupRows || builders.reduce((n, b) => n + b.byteSize(), 0) >= maxRowGroupBytes) await queue.flush();
      }
    },
    async end() {
      if (failure) throw failure;
      await queue.flush();
      await queue.drained();
      if (failure) throw failure;
      closed = true;
      // No rows: no file (callers do not create empty chunks).
      if (rows > 0) file.writeFooter(rows, columns);
      out.end();
      return statsOf(rows, out.bytes, builders);
    },
    destroy(reason) {
      if (closed && !failure) return;
      fail(reason ?? new Error("encoder destroyed"));
    },
    stats(): EncoderStats {
      return statsOf(rows, out.bytes, builders);
    },
  };
}

const CREATED_BY = "spotferry parquet writer (data page v1)";

/** Per-column MySQL types in the footer's key/value metadata: what the Parquet types alone do not say (JSON, TIME, ENUM). */
function columnMetadata(columns: readonly ColumnSpec[]) {
  return columns.map((c) => ({ name: c.name, "mysql.type": c.sourceType, "mysql.kind": c.kind }));
}

export type { Row };
