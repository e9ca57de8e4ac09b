/**
 * NDJSON and CSV encoders, gzip- or zstd-compressed by node:zlib (which compresses in libuv's thread pool, off the main
 * thread; zstd needs Node >= 22.15, which every node runs). Rows arriving as wire bytes are rendered by text-wire.ts.
 * Value conventions (exact, documented in README.md):
 * - 8..32-bit integers, YEAR, FLOAT, DOUBLE, BIT(n <= 32): JSON numbers.
 * - BIGINT (signed and unsigned), BIT(n > 32), DECIMAL: JSON strings of the exact digits ("18446744073709551615",
 *   "-12.3400"), always, so a column has one JSON type and no reader rounds it (the protobuf JSON convention).
 * - DATE "YYYY-MM-DD"; DATETIME "YYYY-MM-DD HH:MM:SS[.ffffff]" (zone-less, as MySQL prints it); TIMESTAMP
 *   "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (UTC, RFC 3339); TIME "[-]HHH:MM:SS[.ffffff]"; zero dates: null (counted).
 * - JSON: the document's text as a JSON string; ENUM, SET ("a,b"), text: strings; BINARY/BLOB: base64 strings.
 * - CSV: RFC 4180 with a header row, "," and "\n"; NULL is an empty unquoted field, the empty string is "".
 */

import * as zlib from "node:zlib";
import { constants, createGzip, type Gzip } from "node:zlib";
import type { ColumnBuilder, Row } from "./column-builders.ts";
import type { ColumnSpec } from "./column-spec.ts";
import { ByteOutput, type Encoder, type EncoderOptions, type EncoderStats, valueError } from "./encoder.ts";
import { RawRows } from "./raw-rows.ts";
import { csvField } from "./text-fields.ts";
import { type Counters, type Render, WireTextRenderer } from "./text-wire.ts";
import { bitValue, parseDateDays, ZERO_DATE } from "./values.ts";

function isZeroDate(s: string): boolean {
  return parseDateDays(s) === ZERO_DATE;
}

function renderer(c: ColumnSpec, json: boolean, n: Counters): Render {
  const str = json ? (s: string) => JSON.stringify(s) : (s: string) => s;
  const text = (v: unknown) => (typeof v === "string" ? v : String(v));
  switch (c.kind) {
    case "int8":
    case "int16":
    case "int32":
    case "uint8":
    case "uint16":
    case "uint32":
    case "year":
    case "float":
    case "double":
      return (v) => {
        const s = typeof v === "number" ? String(v) : text(v);
        if (json && !Number.isFinite(Number(s))) throw new Error(`not a finite number: ${s}`);
        return s;
      };
    case "int64":
    case "uint64":
      // mysql2 delivers a safe-integer number or the exact digits (MYSQL_SOURCE_OPTIONS): both print exactly.
      return json ? (v) => `"${text(v)}"` : text;
    case "decimal":
      return json ? (v) => `"${text(v)}"` : text;
    case "bit":
      return (v) => {
        const b = bitValue(v).toString();
        return json && c.bits > 32 ? `"${b}"` : b;
      };
    case "date":
    case "datetime":
    case "timestamp": {
      const utc = c.kind === "timestamp";
      return (v) => {
        const s = text(v);
        if (isZeroDate(s)) {
          n.zeroDates++;
          return null;
        }
        return str(utc && s.length >= 19 ? `${s.slice(0, 10)}T${s.slice(11)}Z` : s);
      };
    }
    case "binary":
      return (v) =>
        str((v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.length) : Buffer.from(text(v))).toString("base64"));
    default:
      return (v) => str(typeof v === "object" ? JSON.stringify(v) : text(v));
  }
}

function pseudoBuilders(columns: readonly ColumnSpec[], counters: Counters[]): ColumnBuilder[] {
  return columns.map((spec, i) => ({ spec, counters: counters[i] }) as unknown as ColumnBuilder);
}

function csvHeader(columns: readonly ColumnSpec[]): string {
  return `${columns.map((c) => csvField(c.name)).join(",")}\n`;
}

function textStats(o: { columns: readonly ColumnSpec[]; counters: Counters[]; rows: number; bytes: number }): EncoderStats {
  const cols = pseudoBuilders(o.columns, o.counters).map((b) => ({
    name: b.spec.name,
    nulls: b.counters.nulls,
    zeroDates: b.counters.zeroDates,
  }));
  return {
    rows: o.rows,
    bytes: o.bytes,
    zeroDates: cols.reduce((a, c) => a + c.zeroDates, 0),
    columns: cols,
  };
}

/** A gzip or zstd (level 1) stream whose output goes to `out` and whose errors go to `onError`. */
function compressorInto(out: ByteOutput, o: { codec: "gzip" | "zstd"; gzipLevel: number; onError: (err: Error) => void }): Gzip {
  const chunkSize = 256 * 1024;
  let z: Gzip;
  if (o.codec === "gzip") z = createGzip({ level: o.gzipLevel, chunkSize });
  else {
    // Typed as Gzip: both are zlib Transform streams; only write/end/destroy and the events are used.
    const create = (zlib as unknown as { createZstdCompress?: (opts: object) => Gzip }).createZstdCompress;
    if (!create) throw new Error(`zstd compression needs Node >= 22.15 (this is ${process.version}); use gzip or none`);
    z = create({ chunkSize, params: { [constants.ZSTD_c_compressionLevel ?? 100]: 1 } });
  }
  z.on("data", (b: Buffer) => out.push(b));
  z.on("error", o.onError);
  return z;
}

/** Ends the compressing stream and resolves once its last bytes are out. */
function endCompressor(z: Gzip): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    z.once("end", resolve);
    z.once("error", reject);
    z.end();
  });
}

/**
 * The text of a batch of rows, each value rendered by its column's Render; NULLs are counted. `firstRow` (rows written
 * before the batch) only numbers the row in a value error.
 */
function rowRenderer(o: {
  columns: readonly ColumnSpec[];
  renders: Render[];
  keys: string[];
  counters: Counters[];
  json: boolean;
}): (batch: readonly Row[], firstRow: number) => string {
  const { columns, renders, keys, counters, json } = o;
  return (batch, firstRow) => {
    const ncol = columns.length;
    let s = "";
    for (let r = 0; r < batch.length; r++) {
      const row = batch[r] as Row;
      let line = "";
      for (let j = 0; j < ncol; j++) {
        const v = row[j];
        let t: string | null = null;
        if (v !== null && v !== undefined) {
          try {
            t = (renders[j] as Render)(v);
          } catch (err) {
            throw valueError(columns[j] as ColumnSpec, firstRow + r, err);
          }
        }
        if (t === null) (counters[j] as Counters).nulls++;
        if (json) line += (keys[j] as string) + (t ?? "null");
        else line += (j === 0 ? "" : ",") + (t === null ? "" : csvField(t));
      }
      s += json ? `${line}}\n` : `${line}\n`;
    }
    return s;
  };
}

/** The file name suffix each compression adds (what DuckDB, Spark and the CLI tools recognise). */
const EXTENSION = { gzip: ".gz", zstd: ".zst", none: "" } as const;

export function createTextEncoder(format: "ndjson" | "csv", columns: readonly ColumnSpec[], opts: EncoderOptions = {}): Encoder {
  const compression = opts.compression ?? "gzip";
  if (compression !== "gzip" && compression !== "zstd" && compression !== "none")
    throw new Error(`${format} supports gzip, zstd or none, not ${compression}`);
  const json = format === "ndjson";
  const counters: Counters[] = columns.map(() => ({ nulls: 0, zeroDates: 0 }));
  const renders = columns.map((c, i) => renderer(c, json, counters[i] as Counters));
  const keys = columns.map((c, i) => `${i === 0 ? "{" : ","}${JSON.stringify(c.name)}:`);
  const out = new ByteOutput(opts.highWaterMark ?? 8 * 1024 * 1024);
  let failure: Error | null = null;
  let rows = 0;
  let ended = false;
  const gzip: Gzip | null =
    compression === "none"
      ? null
      : compressorInto(out, {
          codec: compression,
          gzipLevel: opts.gzipLevel ?? 1,
          onError: (err) => {
            failure ??= new Error(`${compression} failed`, { cause: err });
            out.destroy(failure);
          },
        });

  /** `recycle`: the buffer came from the wire renderer, which may reuse it once the compressor has read it. */
  const emit = async (s: string | Buffer, recycle = false) => {
    const buf = typeof s === "string" ? Buffer.from(s, "utf8") : s;
    if (!gzip) out.push(buf);
    else if (!gzip.write(buf, recycle ? () => wire.recycle(buf) : undefined))
      await new Promise<void>((resolve) => gzip.once("drain", resolve));
    await out.ready();
    if (failure) throw failure;
  };

  const renderRows = rowRenderer({ columns, renders, keys, counters, json });
  const wire = new WireTextRenderer({ columns, json, renders, counters });

  const stats = (): EncoderStats => textStats({ columns, counters, rows, bytes: out.bytes });

  let header = !json;
  return {
    format,
    extension: `.${format}${EXTENSION[compression]}`,
    contentType: json ? "application/x-ndjson" : "text/csv; charset=utf-8",
    columns,
    output: out.readable,
    async write(batch) {
      if (failure) throw failure;
      if (ended) throw new Error("write after end");
      let s: string | Buffer = "";
      if (header) {
        header = false;
        s = csvHeader(columns);
      }
      try {
        if (!(batch instanceof RawRows)) s += renderRows(batch, rows);
        else if (s === "") s = wire.render(batch, rows);
        else s = Buffer.concat([Buffer.from(s), wire.render(batch, rows)]);
      } catch (err) {
        failure = err as Error;
        out.destroy(failure);
        gzip?.destroy();
        throw err;
      }
      rows += batch.length;
      // Only the wire path renders into buffers, and the renderer may have them back.
      await emit(s, typeof s !== "string");
    },
    async end() {
      if (failure) throw failure;
      ended = true;
      if (header) await emit(csvHeader(columns));
      if (gzip) await endCompressor(gzip);
      out.end();
      return stats();
    },
    destroy(reason) {
      failure ??= reason ?? new Error("encoder destroyed");
      gzip?.destroy();
      out.destroy(failure);
    },
    stats,
  };
}
