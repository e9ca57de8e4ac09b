/**
 * The Parquet side of the type mapping (README.md, "Type mapping") and the Thrift structures we write: page headers,
 * column chunk metadata and the footer (FileMetaData). Only what a flat schema of optional/required leaf columns needs.
 * Enum values and field ids are those of parquet-format's parquet.thrift.
 */
import type { ColumnSpec } from "./column-spec.ts";
import type { Compression } from "./encoder.ts";
import { ThriftWriter } from "./thrift-compact.ts";

export const Physical = { BOOLEAN: 0, INT32: 1, INT64: 2, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6, FIXED_LEN_BYTE_ARRAY: 7 } as const;
export const Encoding = { PLAIN: 0, RLE: 3, DELTA_BINARY_PACKED: 5, RLE_DICTIONARY: 8 } as const;
const Converted = {
  UTF8: 0,
  DECIMAL: 5,
  DATE: 6,
  TIMESTAMP_MICROS: 10,
  UINT_8: 11,
  UINT_16: 12,
  UINT_32: 13,
  UINT_64: 14,
  INT_8: 15,
  INT_16: 16,
  INT_32: 17,
  INT_64: 18,
  JSON: 19,
} as const;
const PageType = { DATA_PAGE: 0, DICTIONARY_PAGE: 2 } as const;
export const Codec: Record<Compression, number> = { none: 0, snappy: 1, gzip: 2, zstd: 6 };

/**
 * How a value sorts, for min/max statistics: fixed-width integer-like columns, and "bytes" for UTF-8 strings (unsigned
 * byte order, which is code point order, as TYPE_ORDER defines for UTF8). Floats, DECIMAL > 18 digits, BLOB and JSON
 * get null_count only.
 */
export type StatsOrder = "i32" | "u32" | "i64" | "u64" | "bytes" | null;

/** Parquet choices of the spec (destination.parquet) that change the schema. */
export interface ParquetSchemaOptions {
  /** TINYINT(1) (display width 1, MySQL's BOOL) as Parquet BOOLEAN instead of INT32 INTEGER(8). */
  tinyint1AsBoolean?: boolean;
}

/** A TINYINT(1) column: what MySQL calls BOOL/BOOLEAN (the driver reports display width 1). */
export function isTinyint1(spec: ColumnSpec): boolean {
  return (spec.kind === "int8" || spec.kind === "uint8") && spec.displayWidth === 1;
}

export interface ParquetColumn {
  spec: ColumnSpec;
  physical: number;
  /** Bytes per value for fixed-width types (4, 8 or the FIXED_LEN_BYTE_ARRAY length); 0 for BYTE_ARRAY and BOOLEAN. */
  width: number;
  /** "always" for ENUM/SET; "try" for text, dictionary-encoded per row group while it pays (README, "Dictionaries"). */
  dictionary: "always" | "try" | "never";
  stats: StatsOrder;
  /** Writes the SchemaElement fields after name/repetition: converted type, scale/precision, logical type. */
  annotate: (w: ThriftWriter) => void;
}

const intType = (bits: number, signed: boolean) => (w: ThriftWriter) => {
  const conv = signed
    ? { 8: Converted.INT_8, 16: Converted.INT_16, 32: Converted.INT_32, 64: Converted.INT_64 }
    : { 8: Converted.UINT_8, 16: Converted.UINT_16, 32: Converted.UINT_32, 64: Converted.UINT_64 };
  w.i32(6, conv[bits as 8 | 16 | 32 | 64]);
  w.struct(10).struct(10).i8(1, bits).bool(2, signed).end().end();
};
const stringType = (w: ThriftWriter) => {
  w.i32(6, Converted.UTF8);
  w.struct(10).struct(1).end().end();
};
// LogicalType.JSON is field 12 of the union (JsonType, empty); readers then know the text is a JSON document.
const jsonType = (w: ThriftWriter) => {
  w.i32(6, Converted.JSON);
  w.struct(10).struct(12).end().end();
};
const timestampType = (utc: boolean) => (w: ThriftWriter) => {
  // TIMESTAMP_MICROS as converted type means UTC-adjusted to legacy readers, so a zone-less DATETIME gets none.
  if (utc) w.i32(6, Converted.TIMESTAMP_MICROS);
  w.struct(10).struct(8).bool(1, utc).struct(2).struct(2).end().end().end().end();
};

/** Minimal FIXED_LEN_BYTE_ARRAY length holding every DECIMAL(p) value (two's complement), as the spec recommends. */
export function decimalBytes(precision: number): number {
  if (precision > 38) return 32; // Decimal256 (README: FIXED_LEN_BYTE_ARRAY(32))
  const max = 10n ** BigInt(precision) - 1n;
  let n = 1;
  while (2n ** BigInt(8 * n - 1) - 1n < max) n++;
  return n;
}

export function parquetColumn(spec: ColumnSpec, opts: ParquetSchemaOptions = {}): ParquetColumn {
  const base = { spec, dictionary: "never" as ParquetColumn["dictionary"], stats: null as StatsOrder };
  const k = spec.kind;
  // No logical type: BOOLEAN is its own physical type (PLAIN: bit-packed, LSB first); its statistics come from the builder.
  if (opts.tinyint1AsBoolean && isTinyint1(spec)) return { ...base, physical: Physical.BOOLEAN, width: 0, annotate: () => {} };
  switch (k) {
    case "int8":
    case "int16":
    case "int32":
      return { ...base, physical: Physical.INT32, width: 4, stats: "i32", annotate: intType(Number(k.slice(3)), true) };
    case "uint8":
    case "uint16":
    case "uint32":
      return { ...base, physical: Physical.INT32, width: 4, stats: "u32", annotate: intType(Number(k.slice(4)), false) };
    case "year":
      return { ...base, physical: Physical.INT32, width: 4, stats: "i32", annotate: intType(16, true) };
    case "int64":
      return { ...base, physical: Physical.INT64, width: 8, stats: "i64", annotate: intType(64, true) };
    case "uint64":
      return { ...base, physical: Physical.INT64, width: 8, stats: "u64", annotate: intType(64, false) };
    case "bit":
      return spec.bits > 32
        ? { ...base, physical: Physical.INT64, width: 8, stats: "u64", annotate: intType(64, false) }
        : { ...base, physical: Physical.INT32, width: 4, stats: "u32", annotate: intType(32, false) };
    case "decimal": {
      const p = spec.precision;
      const annotate = (w: ThriftWriter) => {
        w.i32(6, Converted.DECIMAL).i32(7, spec.scale).i32(8, p);
        w.struct(10).struct(5).i32(1, spec.scale).i32(2, p).end().end();
      };
      if (p <= 9) return { ...base, physical: Physical.INT32, width: 4, stats: "i32", annotate };
      if (p <= 18) return { ...base, physical: Physical.INT64, width: 8, stats: "i64", annotate };
      return { ...base, physical: Physical.FIXED_LEN_BYTE_ARRAY, width: decimalBytes(p), annotate };
    }
    case "float":
      return { ...base, physical: Physical.FLOAT, width: 4, annotate: () => {} };
    case "double":
      return { ...base, physical: Physical.DOUBLE, width: 8, annotate: () => {} };
    case "date":
      return {
        ...base,
        physical: Physical.INT32,
        width: 4,
        stats: "i32",
        annotate: (w) => w.i32(6, Converted.DATE).struct(10).struct(6).end().end(),
      };
    case "datetime":
    case "timestamp":
      return { ...base, physical: Physical.INT64, width: 8, stats: "i64", annotate: timestampType(k === "timestamp") };
    case "binary":
      return { ...base, physical: Physical.BYTE_ARRAY, width: 0, annotate: () => {} };
    case "enum":
    case "set":
      // Few distinct values: dictionary pages (RLE_DICTIONARY indices) instead of repeating the text.
      return { ...base, physical: Physical.BYTE_ARRAY, width: 0, dictionary: "always", stats: "bytes", annotate: stringType };
    case "json":
      // The JSON logical type; no statistics (the min/max of documents prunes nothing).
      return { ...base, physical: Physical.BYTE_ARRAY, width: 0, annotate: jsonType };
    case "text":
      return { ...base, physical: Physical.BYTE_ARRAY, width: 0, dictionary: "try", stats: "bytes", annotate: stringType };
    default:
      // time: MySQL TIME is an interval of -838..838 h, kept as its exact text.
      return { ...base, physical: Physical.BYTE_ARRAY, width: 0, stats: "bytes", annotate: stringType };
  }
}

/** PageHeader of a data page v1 (definition levels RLE, no repetition levels) or of a dictionary page. */
export function pageHeader(
  kind: "data" | "dictionary",
  uncompressed: number,
  compressed: number,
  numValues: number,
  encoding: number,
): Uint8Array {
  const w = new ThriftWriter();
  w.i32(1, kind === "data" ? PageType.DATA_PAGE : PageType.DICTIONARY_PAGE)
    .i32(2, uncompressed)
    .i32(3, compressed);
  if (kind === "data") w.struct(5).i32(1, numValues).i32(2, encoding).i32(3, Encoding.RLE).i32(4, Encoding.RLE).end();
  else w.struct(7).i32(1, numValues).i32(2, Encoding.PLAIN).end();
  return w.end().bytes().slice();
}

export interface ChunkMeta {
  column: ParquetColumn;
  codec: number;
  numValues: number;
  nullCount: number;
  uncompressed: number;
  compressed: number;
  dataPageOffset: number;
  dictionaryPageOffset: number | null;
  /** Its data page is DELTA_BINARY_PACKED. */
  delta: boolean;
  min: Uint8Array | null;
  max: Uint8Array | null;
  /** False when min/max are truncated bounds of longer values (is_min_value_exact / is_max_value_exact). */
  exact: { min: boolean; max: boolean };
}

export interface RowGroupMeta {
  columns: ChunkMeta[];
  numRows: number;
  fileOffset: number;
}

function writeChunk(w: ThriftWriter, c: ChunkMeta): void {
  const start = c.dictionaryPageOffset ?? c.dataPageOffset;
  w.i64(2, start);
  w.struct(3);
  w.i32(1, c.column.physical);
  // The encodings the chunk's pages use: PLAIN (values, or the dictionary page), RLE (levels) and the values' own.
  const encodings =
    c.dictionaryPageOffset !== null
      ? [Encoding.PLAIN, Encoding.RLE, Encoding.RLE_DICTIONARY]
      : c.delta
        ? [Encoding.RLE, Encoding.DELTA_BINARY_PACKED]
        : [Encoding.PLAIN, Encoding.RLE];
  w.listI32(2, encodings);
  w.listString(3, [c.column.spec.name]);
  w.i32(4, c.codec).i64(5, c.numValues).i64(6, c.uncompressed).i64(7, c.compressed).i64(9, c.dataPageOffset);
  if (c.dictionaryPageOffset !== null) w.i64(11, c.dictionaryPageOffset);
  w.struct(12);
  // The deprecated min/max (fields 1, 2) are in signed order by definition: only written for signed columns.
  const signed = c.column.stats === "i32" || c.column.stats === "i64";
  if (c.min && c.max && signed) w.binary(1, c.max).binary(2, c.min);
  w.i64(3, c.nullCount);
  if (c.min && c.max) w.binary(5, c.max).binary(6, c.min).bool(7, c.exact.max).bool(8, c.exact.min);
  w.end(); // Statistics
  w.end(); // ColumnMetaData
}

/** The footer: FileMetaData (version 1 pages) + its length + magic. */
export function footer(
  columns: readonly ParquetColumn[],
  rowGroups: readonly RowGroupMeta[],
  numRows: number,
  keyValues: Record<string, string>,
  createdBy: string,
): Uint8Array {
  const w = new ThriftWriter();
  w.i32(1, 1);
  w.listStruct(2, [null, ...columns], (w, c) => {
    if (c === null) {
      w.binary(4, "schema").i32(5, columns.length);
      return;
    }
    if (c.physical === Physical.FIXED_LEN_BYTE_ARRAY) w.i32(1, c.physical).i32(2, c.width);
    else w.i32(1, c.physical);
    // Repetition: 0 = REQUIRED (no definition levels), 1 = OPTIONAL.
    w.i32(3, c.spec.nullable ? 1 : 0).binary(4, c.spec.name);
    c.annotate(w);
  });
  w.i64(3, numRows);
  w.listStruct(4, rowGroups, (w, rg) => {
    w.listStruct(1, rg.columns, writeChunk);
    const total = rg.columns.reduce((n, c) => n + c.uncompressed, 0);
    const compressed = rg.columns.reduce((n, c) => n + c.compressed, 0);
    w.i64(2, total).i64(3, rg.numRows).i64(5, rg.fileOffset).i64(6, compressed);
  });
  w.listStruct(5, Object.entries(keyValues), (w, [k, v]) => w.binary(1, k).binary(2, v));
  w.binary(6, createdBy);
  // TYPE_ORDER for every column: min_value/max_value follow the logical type's order (unsigned for UINT columns).
  w.listStruct(7, columns, (w) => w.struct(1).end());
  const meta = w.end().bytes();
  const out = new Uint8Array(meta.length + 8);
  out.set(meta);
  new DataView(out.buffer).setUint32(meta.length, meta.length, true);
  out.set([0x50, 0x41, 0x52, 0x31], meta.length + 4);
  return out;
}

export const MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // "PAR1"
