import type { KeyColumn, SourceKey } from "../../config/records.ts";

/**
 * SQL fragments for reading a table in key order. Identifiers reach SQL only after information_schema confirmed them
 * (see schema.ts) and are backtick-quoted; values are always bound parameters, wrapped in a CAST to the column's own
 * type: MySQL compares an integer or DECIMAL column with a string parameter as DOUBLE, which is inexact past 2^53,
 * while CAST(? AS UNSIGNED) or CAST(? AS DECIMAL(p,s)) is folded to an exact constant and still uses the index.
 * The agent reads partition ranges with the same fragments, so planner and agent agree on every boundary.
 */

export function quoteIdent(name: string): string {
  if (name.length === 0 || name.length > 64 || name.includes("`") || name.includes("\0"))
    throw new Error(`refusing identifier ${JSON.stringify(name)}`);
  return `\`${name}\``;
}

const SQL_WORD = /^[A-Za-z0-9_]+$/;
const word = (w: string | undefined, what: string): string => {
  if (!w || !SQL_WORD.test(w)) throw new Error(`unexpected ${what} ${JSON.stringify(w)}`);
  return w;
};

/** The placeholder for one value of `col`, typed so the comparison is exact and sargable. */
export function placeholder(col: KeyColumn): string {
  const args = /\(([\d, ]+)\)/
    .exec(col.sqlType)?.[1]
    ?.split(",")
    .map((s) => Number(s.trim()));
  switch (col.type) {
    case "int":
      return "CAST(? AS SIGNED)";
    case "uint":
      return "CAST(? AS UNSIGNED)";
    case "decimal":
      return `CAST(? AS DECIMAL(${args?.[0] ?? 10},${args?.[1] ?? 0}))`;
    case "date":
      return "CAST(? AS DATE)";
    case "datetime":
      return `CAST(? AS DATETIME(${args?.[0] ?? 0}))`;
    case "time":
      return `CAST(? AS TIME(${args?.[0] ?? 0}))`;
    case "binary":
      return "UNHEX(?)";
    case "string":
      // A literal in the connection's utf8mb4 yields to the column's collation; other character sets are converted
      // explicitly to the column's own collation so the index stays usable.
      if (!col.charset || col.charset.startsWith("utf8")) return "?";
      return `CONVERT(? USING ${word(col.charset, "character set")}) COLLATE ${word(col.collation, "collation")}`;
  }
}

/** The select expression that yields a column's exact text (binary as hex). */
export const selectExpr = (col: KeyColumn) => (col.type === "binary" ? `HEX(${quoteIdent(col.name)})` : quoteIdent(col.name));

export const selectKey = (cols: KeyColumn[]) => cols.map(selectExpr).join(", ");

export const orderBy = (cols: KeyColumn[], dir: "ASC" | "DESC" = "ASC") =>
  `ORDER BY ${cols.map((c) => `${quoteIdent(c.name)} ${dir}`).join(", ")}`;

export interface Fragment {
  sql: string;
  params: (string | number | boolean | null)[];
}

/**
 * `key op value` over the key columns in index order. Composite keys are expanded,
 * `a >= ? AND (a > ? OR (a = ? AND b > ?))`, rather than written as a row constructor: the leading conjunct gives the
 * range optimizer a bound on the first index column on every MySQL and MariaDB version.
 */
export function compareKey(cols: KeyColumn[], op: ">" | ">=" | "<" | "<=", key: SourceKey): Fragment {
  if (key.length !== cols.length) throw new Error(`key ${JSON.stringify(key)} does not match ${cols.length} key columns`);
  const strict = op === ">" || op === "<" ? op : op === ">=" ? ">" : "<";
  const first = cols[0] as KeyColumn;
  if (cols.length === 1) return { sql: `${quoteIdent(first.name)} ${op} ${placeholder(first)}`, params: [key[0] as string] };
  const params: string[] = [];
  const terms: string[] = [];
  for (let i = 0; i < cols.length; i++) {
    const parts: string[] = [];
    for (let j = 0; j < i; j++) {
      parts.push(`${quoteIdent((cols[j] as KeyColumn).name)} = ${placeholder(cols[j] as KeyColumn)}`);
      params.push(key[j] as string);
    }
    const last = i === cols.length - 1 ? op : strict;
    parts.push(`${quoteIdent((cols[i] as KeyColumn).name)} ${last} ${placeholder(cols[i] as KeyColumn)}`);
    params.push(key[i] as string);
    terms.push(parts.length === 1 ? (parts[0] as string) : `(${parts.join(" AND ")})`);
  }
  const lead = op === ">" || op === ">=" ? ">=" : "<=";
  return {
    sql: `(${quoteIdent(first.name)} ${lead} ${placeholder(first)} AND (${terms.join(" OR ")}))`,
    params: [key[0] as string, ...params],
  };
}

/** AND of fragments, skipping absent ones; "1=1" when nothing is left. */
export function and(...parts: (Fragment | null | undefined)[]): Fragment {
  const present = parts.filter((p): p is Fragment => !!p && p.sql.length > 0);
  if (present.length === 0) return { sql: "1=1", params: [] };
  return { sql: present.map((p) => `(${p.sql})`).join(" AND "), params: present.flatMap((p) => p.params) };
}

/** Rows of a partition range: [lo, hi), or up to the high watermark inclusive when hi is null; after a cursor if any. */
export function rangePredicate(
  cols: KeyColumn[],
  range: { lo: SourceKey | null; hi: SourceKey | null; cursor?: SourceKey | null; highWatermark: SourceKey | null },
): Fragment {
  const start = range.cursor ? compareKey(cols, ">", range.cursor) : range.lo ? compareKey(cols, ">=", range.lo) : null;
  const end = range.hi ? compareKey(cols, "<", range.hi) : range.highWatermark ? compareKey(cols, "<=", range.highWatermark) : null;
  return and(start, end);
}
