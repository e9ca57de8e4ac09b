import type { ColumnKind, ColumnSpec, OutputFormat } from "../../lib/output/encode/index.ts";

/**
 * The canonical text of an exported row, as SQL for MariaDB (the source) and for DuckDB (the objects), so that
 * `export verify` and `schedule verify` can compare content with one aggregate query per side and no row leaving
 * either engine. Both sides must give the same text for the same value; per kind:
 *
 * - integers, YEAR, BIT, DECIMAL: the exact digits ("18446744073709551615", "-12.3400" with the column's scale);
 * - FLOAT/DOUBLE: the shortest round-trip digits in one scientific form, "-1.25e-7" ("0" for zero), because the
 *   engines print the same digits with different layouts (MariaDB "1e20" and "0.00000015", DuckDB "1e+20" and
 *   "1.5e-07", JavaScript "100000000000000000000");
 * - DATE "YYYY-MM-DD", DATETIME "YYYY-MM-DD HH:MM:SS[.f]" with the column's fsp digits, TIMESTAMP the same in UTC
 *   (the export's "T...Z" form is folded back); zero dates are NULL, as the export writes them;
 * - TIME, JSON, ENUM, SET, text: the text itself (utf8mb4); binary: upper-case hex of the bytes.
 *
 * A row is the concatenation of "<chars>:<text>" per column ("-" for NULL), so no value can pass for another
 * (a separator inside a string, NULL vs empty), and its hash is the first 64 bits of its MD5; a partition's figure
 * is the count and the exact sum of those hashes, which no reordering changes.
 */
export type Engine = "mariadb" | "duckdb";

interface Dialect {
  cat: (...parts: string[]) => string;
  len: (x: string) => string;
  ltrim0: (x: string) => string;
  rtrim0: (x: string) => string;
  /** The part before the first `sep` (all of x without one), and after it ('' without one). */
  before: (x: string, sep: string) => string;
  after: (x: string, sep: string) => string;
  has: (x: string, sep: string) => string;
  substr: (x: string, from: string) => string;
  toInt: (x: string) => string;
  intText: (x: string) => string;
}

const MARIADB: Dialect = {
  cat: (...p) => `CONCAT(${p.join(", ")})`,
  len: (x) => `CHAR_LENGTH(${x})`,
  ltrim0: (x) => `TRIM(LEADING '0' FROM ${x})`,
  rtrim0: (x) => `TRIM(TRAILING '0' FROM ${x})`,
  before: (x, s) => `SUBSTRING_INDEX(${x}, '${s}', 1)`,
  after: (x, s) => `IF(LOCATE('${s}', ${x}) > 0, SUBSTRING_INDEX(${x}, '${s}', -1), '')`,
  has: (x, s) => `LOCATE('${s}', ${x}) > 0`,
  substr: (x, f) => `SUBSTRING(${x}, ${f})`,
  toInt: (x) => `CAST(${x} AS SIGNED)`,
  intText: (x) => `CAST(${x} AS CHAR)`,
};

const DUCKDB: Dialect = {
  cat: (...p) => `(${p.join(" || ")})`,
  len: (x) => `length(${x})`,
  ltrim0: (x) => `ltrim(${x}, '0')`,
  rtrim0: (x) => `rtrim(${x}, '0')`,
  before: (x, s) => `split_part(${x}, '${s}', 1)`,
  after: (x, s) => `split_part(${x}, '${s}', 2)`,
  has: (x, s) => `strpos(${x}, '${s}') > 0`,
  substr: (x, f) => `substr(${x}, ${f})`,
  toInt: (x) => `CAST(${x} AS BIGINT)`,
  intText: (x) => `CAST(${x} AS VARCHAR)`,
};

const dialect = (e: Engine) => (e === "mariadb" ? MARIADB : DUCKDB);

/** Shortest digits of a float's text (any engine's layout) as "[-]d[.ddd]e<exp>", or "0". */
function floatText(e: Engine, s: string): string {
  const d = dialect(e);
  const neg = e === "mariadb" ? `LEFT(${s}, 1) = '-'` : `left(${s}, 1) = '-'`;
  const abs = `(CASE WHEN ${neg} THEN ${d.substr(s, "2")} ELSE ${s} END)`;
  const mant = d.before(abs, "e");
  const exp0 = `(CASE WHEN ${d.has(abs, "e")} THEN ${d.toInt(d.after(abs, "e"))} ELSE 0 END)`;
  const ip = d.before(mant, ".");
  const digits = d.cat(ip, d.after(mant, "."));
  const lead = `(${d.len(digits)} - ${d.len(d.ltrim0(digits))})`;
  const sig = d.rtrim0(d.ltrim0(digits));
  const exp = `(${exp0} + ${d.len(ip)} - 1 - ${lead})`;
  const head = e === "mariadb" ? `LEFT(${sig}, 1)` : `left(${sig}, 1)`;
  const tail = `(CASE WHEN ${d.len(sig)} > 1 THEN ${d.cat("'.'", d.substr(sig, "2"))} ELSE '' END)`;
  return `(CASE WHEN ${sig} = '' THEN '0' ELSE ${d.cat(`(CASE WHEN ${neg} THEN '-' ELSE '' END)`, head, tail, "'e'", d.intText(exp))} END)`;
}

const INTEGER_KINDS = new Set<ColumnKind>(["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "year", "decimal"]);

export const quoteMaria = (name: string) => `\`${name.replace(/`/g, "``")}\``;
export const quoteDuck = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The canonical text of one source column, NULL for NULL (MariaDB, session time zone +00:00). */
export function sourceText(c: ColumnSpec): string {
  const q = quoteMaria(c.name);
  if (INTEGER_KINDS.has(c.kind) && c.kind !== "year") return `CAST(${q} AS CHAR)`;
  switch (c.kind) {
    case "bit":
    case "year":
      // As numbers: BIT as its value, YEAR 0 as "0" (CAST(year AS CHAR) gives "0000"; the export writes 0).
      return `CAST(${q} + 0 AS CHAR)`;
    case "float":
    case "double":
      return floatText("mariadb", `CAST(${q} AS CHAR)`);
    case "date":
    case "datetime":
    case "timestamp":
      return `IF(YEAR(${q}) = 0 OR MONTH(${q}) = 0 OR DAYOFMONTH(${q}) = 0, NULL, CAST(${q} AS CHAR))`;
    case "binary":
      return `HEX(${q})`;
    default:
      return `CONVERT(${q} USING utf8mb4)`;
  }
}

/** The canonical text of one column as DuckDB reads it from an object of `format` (NDJSON and CSV read as text). */
export function objectText(c: ColumnSpec, format: OutputFormat): string {
  const q = quoteDuck(c.name);
  const parquet = format === "parquet";
  // A TINYINT(1) may be written as BOOLEAN (destination.parquet.tinyint1AsBoolean): through TINYINT it reads 1/0 again.
  if (parquet && (c.kind === "int8" || c.kind === "uint8"))
    return `CAST(CAST(${q} AS ${c.kind === "int8" ? "TINYINT" : "UTINYINT"}) AS VARCHAR)`;
  if (INTEGER_KINDS.has(c.kind) || c.kind === "bit") return parquet ? `CAST(${q} AS VARCHAR)` : q;
  switch (c.kind) {
    case "float":
    case "double":
      return floatText("duckdb", parquet ? `CAST(${q} AS VARCHAR)` : q);
    case "date":
      return parquet ? `CAST(${q} AS VARCHAR)` : q;
    case "datetime":
    case "timestamp": {
      if (!parquet) return c.kind === "timestamp" ? `replace(replace(${q}, 'T', ' '), 'Z', '')` : q;
      const full = `strftime(CAST(${q} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f')`;
      return `substr(${full}, 1, ${c.fsp === 0 ? 19 : 20 + c.fsp})`;
    }
    case "binary":
      return parquet ? `hex(${q})` : `hex(from_base64(${q}))`;
    default:
      return parquet ? `CAST(${q} AS VARCHAR)` : q;
  }
}

/** "<chars>:<text>" per column, "-" for NULL, concatenated: the text a row's hash is taken of. */
export function rowText(engine: Engine, texts: string[]): string {
  const d = dialect(engine);
  const fields = texts.map((t) => `COALESCE(${d.cat(d.intText(d.len(t)), "':'", t)}, '-')`);
  return fields.length === 1 ? (fields[0] as string) : d.cat(...fields.flatMap((f, i) => (i === 0 ? [f] : ["','", f])));
}

/** The key's text (key columns' canonical texts joined by the unit separator), for bucketing and reporting. */
export function keyText(engine: Engine, texts: string[]): string {
  if (texts.length === 1) return engine === "mariadb" ? `COALESCE(${texts[0]}, '')` : `COALESCE(${texts[0]}, '')`;
  return engine === "mariadb" ? `CONCAT_WS(CHAR(31), ${texts.join(", ")})` : `concat_ws(chr(31), ${texts.join(", ")})`;
}

/** The first 64 bits of the MD5 of a text, as an unsigned integer. */
export function hash64(engine: Engine, text: string): string {
  return engine === "mariadb"
    ? `CAST(CONV(LEFT(MD5(${text}), 16), 16, 10) AS UNSIGNED)`
    : `CAST('0x' || left(md5(${text}), 16) AS UBIGINT)`;
}

/** Two hex digits of the key's MD5 at `level` (0..7): the bucket a key falls in at that depth of the descent. */
export function bucketOf(engine: Engine, key: string, level: number): string {
  return engine === "mariadb" ? `SUBSTRING(MD5(${key}), ${1 + 2 * level}, 2)` : `substr(md5(${key}), ${1 + 2 * level}, 2)`;
}

/** The first 2*level hex digits of the key's MD5 (the path of buckets taken so far). */
export function bucketPath(engine: Engine, key: string, level: number): string {
  return engine === "mariadb" ? `LEFT(MD5(${key}), ${2 * level})` : `left(md5(${key}), ${2 * level})`;
}

/** The columns whose content verify compares: every exported column, or only the key's in key-only mode. */
export function comparedColumns(schema: ColumnSpec[], keyNames: string[], keysOnly: boolean): ColumnSpec[] {
  if (!keysOnly) return schema;
  return keyNames.map((n) => {
    const c = schema.find((s) => s.name === n);
    if (!c) throw new Error(`the manifest's schema has no key column ${n}`);
    return c;
  });
}
