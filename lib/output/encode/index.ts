/**
 * lib/output/encode: turns the rows of a source query into the bytes of one chunk object, in Parquet (default), NDJSON or CSV.
 *   column-spec.ts      mysql2 field metadata -> ColumnSpec; the mysql2 options the source must use
 *   values.ts           exact value conversions (BIGINT, DECIMAL, dates, BIT) without lossy JS numbers
 *   raw-rows.ts         rows as the server sent them (text-protocol bytes), which every encoder reads directly
 *   column-builders.ts  the column buffer contract (Parquet PLAIN layout, from row arrays or wire bytes, validity, growth)
 *   number-builders.ts  INT32 / INT64 / FIXED_LEN_BYTE_ARRAY kinds;  bytes-builder.ts  text and bytes (BYTE_ARRAY)
 *   dictionary-builders.ts  ENUM/SET dictionaries, and text dictionaries per row group with PLAIN fallback
 *   builder-factory.ts  the builder for each column (and BooleanBuilder: TINYINT(1) as BOOLEAN)
 *   rle-hybrid.ts       RLE/bit-packed hybrid runs (definition levels, dictionary indices)
 *   thrift-compact.ts   Thrift compact-protocol writer (page headers, footer)
 *   parquet-format.ts   Parquet physical/logical types per column, page headers, column chunk metadata, footer
 *   page-compressor.ts  compression (zstd wasm / gzip / snappy) and min/max statistics of a row group's pages
 *   byte-stats.ts       min/max of string pages in byte order, truncated to 64 bytes (runs with the compressor)
 *   parquet-worker.ts   worker thread running page-compressor.ts for every encoder of the process
 *   parquet-encoder.ts  the Parquet Encoder: row groups -> pages -> compressed in the worker -> streamed to output
 *   text-encoders.ts    the NDJSON and CSV Encoders (gzip, zstd or none), from row arrays or wire bytes
 *   text-wire.ts        NDJSON and CSV lines rendered straight from wire bytes (runs of plain CSV rows in one copy)
 *   text-fields.ts      its byte writers: one value as a CSV field or JSON token
 *   encoder.ts          the Encoder contract and byte output with backpressure
 * README.md documents the type mapping, the zone semantics and the benchmark figures.
 */
import type { ColumnSpec } from "./column-spec.ts";
import type { Encoder, EncoderOptions, OutputFormat } from "./encoder.ts";
import { createParquetEncoder } from "./parquet-encoder.ts";
import { createTextEncoder } from "./text-encoders.ts";

export { grown, type Row } from "./column-builders.ts";
export {
  type ColumnHints,
  type ColumnKind,
  type ColumnSpec,
  columnFromField,
  columnsFromFields,
  MYSQL_SOURCE_OPTIONS,
  type MysqlField,
  SESSION_INIT_SQL,
} from "./column-spec.ts";
export type {
  ColumnStats,
  Compression,
  Encoder,
  EncoderOptions,
  EncoderStats,
  OutputFormat,
} from "./encoder.ts";
export { doneWith, RawRows, type RawRowsInit, type RowBatch, RowStorage, rowsOf } from "./raw-rows.ts";

/** Creates the encoder for one chunk object. */
export function createEncoder(format: OutputFormat, columns: readonly ColumnSpec[], opts: EncoderOptions = {}): Encoder {
  switch (format) {
    case "parquet":
      return createParquetEncoder(columns, opts);
    case "ndjson":
    case "csv":
      return createTextEncoder(format, columns, opts);
    default:
      throw new Error(`unknown output format ${String(format)}`);
  }
}
