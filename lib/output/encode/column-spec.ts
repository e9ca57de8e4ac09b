/**
 * Column type model: what each exported column is, derived from the mysql2 field metadata of the source query,
 * and the exact mysql2 options the source must use so every value reaches the encoders without loss.
 * See README.md in this folder for the type mapping per output format.
 */

/** The kinds of column the encoders know. Every MySQL/MariaDB type maps to exactly one. */
export type ColumnKind =
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "decimal"
  | "float"
  | "double"
  | "date"
  | "datetime"
  | "timestamp"
  | "time"
  | "year"
  | "json"
  | "enum"
  | "set"
  | "bit"
  | "binary"
  | "text";

export interface ColumnSpec {
  name: string;
  kind: ColumnKind;
  /** False only when the source column is NOT NULL and no value can become NULL (zero dates always can). */
  nullable: boolean;
  /** DECIMAL precision (1..65); 0 otherwise. */
  precision: number;
  /** DECIMAL scale (0..30); 0 otherwise. */
  scale: number;
  /** Fractional seconds digits of DATETIME/TIMESTAMP/TIME (0..6); 0 otherwise. */
  fsp: number;
  /** BIT(n) width (1..64); 0 otherwise. */
  bits: number;
  /** The source type as reported, for the manifest and error messages, e.g. "LONGLONG UNSIGNED". */
  sourceType: string;
  /**
   * TINYINT only: the display width the driver reports (mysql2 `columnLength`), 1 for TINYINT(1), i.e. MySQL's
   * BOOL/BOOLEAN (MariaDB and MySQL both report 1; plain TINYINT reports 4, TINYINT UNSIGNED 3).
   */
  displayWidth?: number;
}

/** The subset of mysql2's FieldPacket this module reads. */
export interface MysqlField {
  name: string;
  columnType?: number;
  type?: number;
  flags: number | string[];
  decimals: number;
  characterSet?: number;
  columnLength?: number;
  /** MariaDB 10.5+ extended metadata, e.g. "json" for a JSON (LONGTEXT) column. */
  extendedFormat?: string;
}

/** Optional per-column hints from information_schema.COLUMNS (DATA_TYPE), e.g. to recognise MariaDB JSON without extended metadata. */
export type ColumnHints = ReadonlyMap<string, { dataType: string }>;

/** mysql2 column type codes (protocol). */
export const MysqlType = {
  DECIMAL: 0x00,
  TINY: 0x01,
  SHORT: 0x02,
  LONG: 0x03,
  FLOAT: 0x04,
  DOUBLE: 0x05,
  NULL: 0x06,
  TIMESTAMP: 0x07,
  LONGLONG: 0x08,
  INT24: 0x09,
  DATE: 0x0a,
  TIME: 0x0b,
  DATETIME: 0x0c,
  YEAR: 0x0d,
  NEWDATE: 0x0e,
  VARCHAR: 0x0f,
  BIT: 0x10,
  JSON: 0xf5,
  NEWDECIMAL: 0xf6,
  ENUM: 0xf7,
  SET: 0xf8,
  TINY_BLOB: 0xf9,
  MEDIUM_BLOB: 0xfa,
  LONG_BLOB: 0xfb,
  BLOB: 0xfc,
  VAR_STRING: 0xfd,
  STRING: 0xfe,
  GEOMETRY: 0xff,
} as const;

const typeName = new Map<number, string>(Object.entries(MysqlType).map(([k, v]) => [v, k]));

const Flag = {
  NOT_NULL: 1,
  UNSIGNED: 32,
  BINARY: 128,
  ENUM: 256,
  SET: 2048,
} as const;

/** The `binary` collation: a column with this character set holds bytes, not text. */
const BINARY_CHARSET = 63;

/**
 * Options every source connection (pool) must be created with. Each one is load-bearing:
 * - `rowsAsArray`: rows arrive as arrays in column order, which the encoders index directly (and it is faster).
 * - `supportBigNumbers: true, bigNumberStrings: false`: BIGINT (signed and UNSIGNED) arrives as a JS number when it is a
 *   safe integer and as its exact decimal string otherwise (mysql2 checks `Number.isSafeInteger`); never a rounded number.
 *   The encoders accept number | string | bigint for 64-bit kinds. (`bigNumberStrings: true` also works, a little slower.)
 * - `decimalNumbers: false`: DECIMAL arrives as the server's exact text ("-12.3400"), never a float.
 * - `dateStrings: true`: DATE/DATETIME/TIMESTAMP arrive as the server's text, so fractional seconds are exact, no local-zone
 *   conversion happens in the driver, and zero dates ('0000-00-00') arrive as text that the encoders turn into NULL and count.
 * - `jsonStrings: true`: JSON arrives as its text (not parsed and re-serialised; key order and number precision kept).
 * - `typeCast`: not set: it would make mysql2 call back per value (slower), and no type here needs one.
 * - `timezone: "Z"`: unused with dateStrings for reads, but makes parameters bound as Date objects UTC.
 * Every connection must also run `SET time_zone = '+00:00'` (see SESSION_INIT_SQL) so TIMESTAMP values are UTC.
 */
export const MYSQL_SOURCE_OPTIONS = {
  rowsAsArray: true,
  supportBigNumbers: true,
  bigNumberStrings: false,
  decimalNumbers: false,
  dateStrings: true,
  jsonStrings: true,
  timezone: "Z",
} as const;

/** Run on every new source connection: TIMESTAMP values then arrive in UTC; DATETIME is unaffected (zone-less). */
export const SESSION_INIT_SQL = "SET time_zone = '+00:00'";

function flagsOf(f: MysqlField): number {
  if (typeof f.flags === "number") return f.flags;
  // mysql2 can expose flag names in some typings; map the ones we need.
  let n = 0;
  for (const name of f.flags) {
    if (name === "NOT_NULL") n |= Flag.NOT_NULL;
    else if (name === "UNSIGNED") n |= Flag.UNSIGNED;
    else if (name === "BINARY") n |= Flag.BINARY;
    else if (name === "ENUM") n |= Flag.ENUM;
    else if (name === "SET") n |= Flag.SET;
  }
  return n;
}

/** DECIMAL(p,s) column length is p + (s > 0 ? 1 : 0) + (signed ? 1 : 0). */
function decimalPrecision(columnLength: number, scale: number, unsigned: boolean): number {
  const p = columnLength - (scale > 0 ? 1 : 0) - (unsigned ? 0 : 1);
  return Math.min(65, Math.max(1, p));
}

/** Derives one ColumnSpec per field of a query result. Throws on types the encoders do not support (GEOMETRY, VECTOR). */
export function columnsFromFields(fields: readonly MysqlField[], hints?: ColumnHints): ColumnSpec[] {
  return fields.map((f) => columnFromField(f, hints?.get(f.name)?.dataType.toLowerCase()));
}

export function columnFromField(f: MysqlField, hintedDataType?: string): ColumnSpec {
  const code = f.columnType ?? f.type;
  if (code === undefined) throw new Error(`column ${f.name}: mysql2 field has no columnType`);
  const flags = flagsOf(f);
  const unsigned = (flags & Flag.UNSIGNED) !== 0;
  const notNull = (flags & Flag.NOT_NULL) !== 0;
  const base: ColumnSpec = {
    name: f.name,
    kind: "text",
    nullable: !notNull,
    precision: 0,
    scale: 0,
    fsp: 0,
    bits: 0,
    sourceType: `${typeName.get(code) ?? `type ${code}`}${unsigned ? " UNSIGNED" : ""}`,
  };
  const field: DecodedField = { f, code, flags, unsigned, base, hintedDataType };
  return numericColumn(field) ?? temporalColumn(field) ?? stringColumn(field);
}

/** A field with its type code and flags decoded, and the spec every kind starts from (kind "text", no sizes). */
interface DecodedField {
  f: MysqlField;
  code: number;
  flags: number;
  unsigned: boolean;
  base: ColumnSpec;
  hintedDataType?: string;
}

/** Integers, DECIMAL, FLOAT, DOUBLE and BIT; undefined for any other type. */
function numericColumn({ f, code, unsigned, base }: DecodedField): ColumnSpec | undefined {
  switch (code) {
    case MysqlType.TINY:
      return { ...base, kind: unsigned ? "uint8" : "int8", ...(f.columnLength === undefined ? {} : { displayWidth: f.columnLength }) };
    case MysqlType.SHORT:
      return { ...base, kind: unsigned ? "uint16" : "int16" };
    case MysqlType.INT24:
    case MysqlType.LONG:
      return { ...base, kind: unsigned ? "uint32" : "int32" };
    case MysqlType.LONGLONG:
      return { ...base, kind: unsigned ? "uint64" : "int64" };
    case MysqlType.DECIMAL:
    case MysqlType.NEWDECIMAL: {
      const scale = f.decimals;
      return {
        ...base,
        kind: "decimal",
        scale,
        precision: decimalPrecision(f.columnLength ?? 66, scale, unsigned),
      };
    }
    case MysqlType.FLOAT:
      return { ...base, kind: "float" };
    case MysqlType.DOUBLE:
      return { ...base, kind: "double" };
    case MysqlType.BIT:
      return {
        ...base,
        kind: "bit",
        bits: Math.min(64, Math.max(1, f.columnLength ?? 64)),
      };
    default:
      return undefined;
  }
}

/** DATE, DATETIME, TIMESTAMP, TIME and YEAR; undefined for any other type. */
function temporalColumn({ f, code, base }: DecodedField): ColumnSpec | undefined {
  const dateLike = (kind: ColumnKind, fsp: number): ColumnSpec => ({
    ...base,
    kind,
    // Zero dates become NULL, so a date column is nullable whatever the source says.
    nullable: true,
    fsp: Math.min(6, Math.max(0, fsp)),
  });
  switch (code) {
    case MysqlType.DATE:
    case MysqlType.NEWDATE:
      return dateLike("date", 0);
    case MysqlType.DATETIME:
      return dateLike("datetime", f.decimals);
    case MysqlType.TIMESTAMP:
      return dateLike("timestamp", f.decimals);
    case MysqlType.TIME:
      return {
        ...base,
        kind: "time",
        fsp: Math.min(6, Math.max(0, f.decimals)),
      };
    case MysqlType.YEAR:
      return { ...base, kind: "year" };
    default:
      return undefined;
  }
}

/** JSON, ENUM, SET and every string or binary type; throws on the types the encoders do not support. */
function stringColumn({ f, code, flags, base, hintedDataType }: DecodedField): ColumnSpec {
  switch (code) {
    case MysqlType.JSON:
      return { ...base, kind: "json" };
    case MysqlType.ENUM:
      return { ...base, kind: "enum" };
    case MysqlType.SET:
      return { ...base, kind: "set" };
    case MysqlType.GEOMETRY:
    case 0xf2 /* VECTOR */:
      throw new Error(`column ${f.name}: type ${base.sourceType} is not supported; select it as text (ST_AsText) or hex`);
    default: {
      // CHAR/VARCHAR/TEXT/BLOB/BINARY/VARBINARY, ENUM and SET (reported as STRING with a flag), MariaDB JSON (LONGTEXT).
      if (flags & Flag.ENUM) return { ...base, kind: "enum" };
      if (flags & Flag.SET) return { ...base, kind: "set" };
      if (f.characterSet === BINARY_CHARSET) return { ...base, kind: "binary" };
      if (f.extendedFormat === "json" || hintedDataType === "json") return { ...base, kind: "json" };
      return { ...base, kind: "text" };
    }
  }
}

/** Kinds written as 64-bit integers whose values may exceed 2^53 (JSON/CSV write them as exact decimal text). */
export function isWideInteger(c: ColumnSpec): boolean {
  return c.kind === "int64" || c.kind === "uint64" || (c.kind === "bit" && c.bits > 32);
}
