import type { ColumnSpec } from "../../lib/output/encode/index.ts";

/**
 * Each exported column's type in each engine, from the manifest's schema and what the Parquet writer makes of it
 * (lib/output/encode/README.md, "Type mapping"). Unsigned integers widen to the next signed type where the engine has
 * no unsigned one (BIGINT UNSIGNED to DECIMAL(20,0), as Spark reads UINT_64); DATETIME is zone-less and TIMESTAMP is
 * UTC; TIME, JSON, ENUM and SET are text. A type the engine cannot hold exactly carries a note for the statement.
 */
export type Engine = "athena" | "redshift" | "spark" | "duckdb";
export const ENGINES: readonly Engine[] = ["athena", "redshift", "spark", "duckdb"];

export interface EngineType {
  type: string;
  /** Why the type is not the source's exactly, or why the engine cannot read the column; printed as a comment. */
  note?: string;
  /** The engine cannot read this Parquet column at all: declared commented out (columns are matched by name). */
  unreadable?: boolean;
}

export interface TypeOptions {
  /** destination.parquet.tinyint1AsBoolean: TINYINT(1) columns are Parquet BOOLEAN. */
  tinyint1AsBoolean: boolean;
  format: "parquet" | "ndjson" | "csv";
}

const isBool = (c: ColumnSpec, o: TypeOptions) =>
  o.format === "parquet" && o.tinyint1AsBoolean && (c.kind === "int8" || c.kind === "uint8") && c.displayWidth === 1;

interface Names {
  i8: string;
  i16: string;
  i32: string;
  i64: string;
  u8: string;
  u16: string;
  u32: string;
  u64: string;
  float: string;
  double: string;
  date: string;
  datetime: string;
  timestamp: string;
  text: string;
  json: string;
  binary: string;
  bool: string;
  decimal: (p: number, s: number) => string;
}

const HIVE: Names = {
  i8: "tinyint",
  i16: "smallint",
  i32: "int",
  i64: "bigint",
  u8: "smallint",
  u16: "int",
  u32: "bigint",
  u64: "decimal(20,0)",
  float: "float",
  double: "double",
  date: "date",
  datetime: "timestamp",
  timestamp: "timestamp",
  text: "string",
  json: "string",
  binary: "binary",
  bool: "boolean",
  decimal: (p, s) => `decimal(${p},${s})`,
};

const NAMES: Record<Engine, Names> = {
  athena: HIVE,
  spark: {
    ...HIVE,
    i8: "TINYINT",
    i16: "SMALLINT",
    i32: "INT",
    i64: "BIGINT",
    u8: "SMALLINT",
    u16: "INT",
    u32: "BIGINT",
    u64: "DECIMAL(20,0)",
    float: "FLOAT",
    double: "DOUBLE",
    date: "DATE",
    datetime: "TIMESTAMP_NTZ",
    timestamp: "TIMESTAMP",
    text: "STRING",
    json: "STRING",
    binary: "BINARY",
    bool: "BOOLEAN",
    decimal: (p, s) => `DECIMAL(${p},${s})`,
  },
  redshift: {
    i8: "SMALLINT",
    i16: "SMALLINT",
    i32: "INTEGER",
    i64: "BIGINT",
    u8: "SMALLINT",
    u16: "INTEGER",
    u32: "BIGINT",
    u64: "DECIMAL(20,0)",
    float: "REAL",
    double: "DOUBLE PRECISION",
    date: "DATE",
    datetime: "TIMESTAMP",
    // External tables take TIMESTAMP only (no TIMESTAMPTZ); the values are UTC.
    timestamp: "TIMESTAMP",
    text: "VARCHAR(65535)",
    json: "VARCHAR(65535)",
    binary: "VARBYTE(1024000)",
    bool: "BOOLEAN",
    decimal: (p, s) => `DECIMAL(${p},${s})`,
  },
  duckdb: {
    i8: "TINYINT",
    i16: "SMALLINT",
    i32: "INTEGER",
    i64: "BIGINT",
    u8: "UTINYINT",
    u16: "USMALLINT",
    u32: "UINTEGER",
    u64: "UBIGINT",
    float: "FLOAT",
    double: "DOUBLE",
    date: "DATE",
    datetime: "TIMESTAMP",
    timestamp: "TIMESTAMPTZ",
    text: "VARCHAR",
    json: "JSON",
    binary: "BLOB",
    bool: "BOOLEAN",
    decimal: (p, s) => `DECIMAL(${p},${s})`,
  },
};

/** The engine's type for one exported column. */
export function engineType(engine: Engine, c: ColumnSpec, o: TypeOptions): EngineType {
  const n = NAMES[engine];
  if (isBool(c, o)) return { type: n.bool };
  switch (c.kind) {
    case "int8":
      return engine === "redshift" ? { type: n.i8, note: "TINYINT (Redshift has no 1-byte integer)" } : { type: n.i8 };
    case "int16":
    case "year":
      return { type: n.i16 };
    case "int32":
      return { type: n.i32 };
    case "int64":
      return { type: n.i64 };
    case "uint8":
      return { type: n.u8 };
    case "uint16":
      return { type: n.u16 };
    case "uint32":
      return { type: n.u32 };
    case "uint64":
      return { type: n.u64, note: engine === "duckdb" ? undefined : "BIGINT UNSIGNED (Parquet INT64, unsigned)" };
    case "bit":
      return { type: c.bits > 32 ? n.u64 : n.u32 };
    case "float":
      return { type: n.float };
    case "double":
      return { type: n.double };
    case "decimal":
      return decimalType(engine, c, o);
    case "date":
      return { type: n.date };
    case "datetime":
      return { type: n.datetime, note: engine === "athena" || engine === "redshift" ? "DATETIME, zone-less" : undefined };
    case "timestamp":
      return { type: n.timestamp, note: engine === "athena" || engine === "redshift" ? "TIMESTAMP, UTC" : undefined };
    case "json":
      return { type: n.json, note: engine === "duckdb" ? undefined : "JSON text" };
    case "binary":
      return { type: n.binary };
    case "time":
      return { type: n.text, note: "TIME as its MySQL text, [-]HHH:MM:SS[.f]" };
    default:
      return { type: n.text };
  }
}

function decimalType(engine: Engine, c: ColumnSpec, o: TypeOptions): EngineType {
  const n = NAMES[engine];
  if (c.precision <= 38) return { type: n.decimal(c.precision, c.scale) };
  const source = `DECIMAL(${c.precision},${c.scale})`;
  // Text formats carry the exact digits; a string column keeps them.
  if (o.format !== "parquet") return { type: n.text, note: `${source} as its exact text (more than 38 digits)` };
  if (engine === "duckdb") return { type: "DOUBLE", note: `${source}: DuckDB reads a Parquet decimal of more than 38 digits as DOUBLE` };
  return { type: n.decimal(38, Math.min(c.scale, 38)), unreadable: true, note: `${source}: ${engine} reads decimals of at most 38 digits` };
}
