import type { Connection } from "mysql2/promise";
import type { ExportSpec, FilterPredicate } from "../../config/export-spec.ts";
import type { IncrementalSpec } from "../../config/incremental-spec.ts";
import { UserError } from "../../lib/errors.ts";
import { queryText } from "../../lib/mysql/connect.ts";
import { and, quoteIdent } from "../../lib/mysql/key-sql.ts";
import { type ColumnInfo, column, filterSql, type TableInfo } from "../../lib/mysql/schema.ts";

/**
 * The watermark of an incremental run: where the previous run stopped (lo, exclusive) and where this one stops (hi,
 * inclusive), taken once at run start and never re-read, so a retried run reads exactly the same range. Values are
 * the exact text MariaDB prints for the column (CAST(... AS CHAR)) and are bound back typed, like partition keys.
 */
export interface WatermarkProbe {
  /** New watermark; null when the table (within the filter) has no candidate row at all. */
  hi: string | null;
  /** Rows in (lo, hi] within the filter: 0 means the run would cost nothing and is not started. */
  rows: number;
  /** The database's NOW(6) when the watermark was taken. */
  dbNow: string;
}

const ID_TYPES = new Set(["tinyint", "smallint", "mediumint", "int", "integer", "bigint"]);
const TIME_TYPES = new Set(["datetime", "timestamp"]);

/** The catalogue's watermark column, checked against the mode (an integer for id, DATETIME/TIMESTAMP for updated-at). */
export function watermarkColumn(info: TableInfo, inc: IncrementalSpec): ColumnInfo {
  const c = column(info, inc.column, "incremental.column");
  const ok = inc.mode === "id" ? ID_TYPES.has(c.dataType) : TIME_TYPES.has(c.dataType);
  if (!ok) {
    const want = inc.mode === "id" ? "an integer column (e.g. AUTO_INCREMENT id)" : "a DATETIME or TIMESTAMP column";
    throw new UserError(`incremental.column: ${c.name} is ${c.columnType}; mode ${inc.mode} needs ${want}`);
  }
  return c;
}

/** The run's range on the watermark column as filter predicates (AND-ed with the spec's own filter). */
export function rangeFilter(inc: IncrementalSpec, lo: string | null, hi: string): FilterPredicate[] {
  return [
    ...(lo === null ? [] : [{ column: inc.column, op: ">" as const, value: lo }]),
    { column: inc.column, op: "<=" as const, value: hi },
  ];
}

export async function probeWatermark(conn: Connection, info: TableInfo, spec: ExportSpec, lo: string | null): Promise<WatermarkProbe> {
  const inc = spec.incremental;
  if (!inc) throw new Error(`export ${spec.name} has no incremental block`);
  const col = watermarkColumn(info, inc);
  const table = `${quoteIdent(info.database)}.${quoteIdent(info.table)}`;
  const q = quoteIdent(col.name);
  const user = filterSql(info, spec.source.filter);
  const what = `taking the watermark of ${info.database}.${info.table} on ${col.name}`;
  try {
    const [[dbNow]] = (await queryText(conn, { sql: "SELECT CAST(NOW(6) AS CHAR)", params: [] })) as [[string]];
    // updated-at: rows stamped within safetyLag of now may belong to transactions that will still commit rows with
    // older stamps, so they wait for the next run. The MAX over the column's index is one index dive.
    const lagMicros = Math.round((inc.safetyLag ?? 0) * 1e6);
    const lag = inc.mode === "updated-at" ? { sql: `${q} <= NOW(6) - INTERVAL ${lagMicros} MICROSECOND`, params: [] } : null;
    const where = and(lag, user);
    const [[hi]] = (await queryText(conn, {
      sql: `SELECT CAST(MAX(${q}) AS CHAR) FROM ${table} WHERE ${where.sql}`,
      params: where.params,
    })) as [[string | null]];
    if (hi === null) return { hi: null, rows: 0, dbNow };
    const range = and(filterSql(info, rangeFilter(inc, lo, hi)), user);
    const [[n]] = (await queryText(conn, { sql: `SELECT COUNT(*) FROM ${table} WHERE ${range.sql}`, params: range.params })) as [[string]];
    return { hi, rows: Number(n), dbNow };
  } catch (cause) {
    if (cause instanceof UserError) throw cause;
    throw new Error(what, { cause });
  }
}

/** The run's spec: the schedule's spec with the run's columns and its watermark range added to the filter. */
export function runSpecOf(spec: ExportSpec, lo: string | null, hi: string, columns: string[]): ExportSpec {
  const inc = spec.incremental;
  if (!inc) throw new Error(`export ${spec.name} has no incremental block`);
  return {
    ...spec,
    source: { ...spec.source, columns, filter: [...(spec.source.filter ?? []), ...rangeFilter(inc, lo, hi)] },
  };
}
