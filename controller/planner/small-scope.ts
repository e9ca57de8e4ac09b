import type { Connection } from "mysql2/promise";
import type { FilterPredicate } from "../../config/export-spec.ts";
import type { KeyColumn, SourceKey } from "../../config/records.ts";
import { queryText } from "../../lib/mysql/connect.ts";
import { orderBy, quoteIdent, selectKey } from "../../lib/mysql/key-sql.ts";
import type { TableInfo } from "../../lib/mysql/schema.ts";
import type { Boundaries, WalkTarget } from "./boundaries.ts";

/**
 * The planner's fast path for a filter that selects few rows of a big table (an incremental run's watermark range):
 * when the rows in scope are at most one partition's worth, the plan is ONE partition and the index walk is skipped.
 * The walk runs on the key's index with the filter as a residual condition, so for a narrow filter its edge lookups
 * and its first dive read the whole key index (5.2 s for a 100k-row run on a 10 M-row table); here every statement
 * leaves the optimizer free to use an index on the filter's column, and the count stops at cap + 1 rows.
 *
 * `dives` is 0 on this path: no statement walks the key index (the count and the edges are one statement each).
 *
 * Taken only when some filtered column leads an ordered index: without one the capped count may itself scan the
 * table and then the walk would scan it again.
 */
export async function singlePartitionScope(
  conn: Connection,
  info: TableInfo,
  t: WalkTarget,
  filter: FilterPredicate[] | undefined,
  cap: number,
): Promise<Boundaries | null> {
  if (!t.filter || !filter?.length) return null;
  const filtered = new Set(filter.map((f) => f.column.toLowerCase()));
  const indexed = info.indexes.some((ix) => ix.ordered && filtered.has((ix.columns[0] ?? "").toLowerCase()));
  if (!indexed) return null;
  const table = `${quoteIdent(t.database)}.${quoteIdent(t.table)}`;
  const capped = `SELECT 1 FROM ${table} WHERE ${t.filter.sql} LIMIT ${cap + 1}`;
  const [count] = await queryText(conn, { sql: `SELECT COUNT(*) FROM (${capped}) AS capped`, params: t.filter.params });
  const rows = Number(count?.[0] ?? 0);
  if (rows > cap) return null;
  if (rows === 0) return { lowKey: null, highWatermark: null, bounds: [], rows: [], dives: 0 };
  const [lowKey, highWatermark] = await edges(conn, t, table, cap);
  // A row removed between the count and the edges can leave nothing; a row added may make it cap + 1: still one.
  if (!lowKey || !highWatermark) return { lowKey: null, highWatermark: null, bounds: [], rows: [], dives: 0 };
  return { lowKey, highWatermark, bounds: [], rows: [rows], dives: 0 };
}

/**
 * First and last key within the filter. A single-column key is MIN/MAX, which the optimizer answers from the filter
 * column's index (a secondary index carries the primary key); a composite key is ordered over the capped derived
 * table (at most cap + 1 keys, the rows the export reads anyway), since a tuple's minimum is not per-column.
 */
async function edges(conn: Connection, t: WalkTarget, table: string, cap: number): Promise<[SourceKey | null, SourceKey | null]> {
  const filter = t.filter!;
  if (t.columns.length === 1) {
    const c = t.columns[0] as KeyColumn;
    const q = quoteIdent(c.name);
    const text = (agg: string) => (c.type === "binary" ? `HEX(${agg}(${q}))` : `${agg}(${q})`);
    const [row] = await queryText(conn, {
      sql: `SELECT ${text("MIN")}, ${text("MAX")} FROM ${table} WHERE ${filter.sql}`,
      params: filter.params,
    });
    const lo = row?.[0] ?? null;
    const hi = row?.[1] ?? null;
    return [lo === null ? null : [lo], hi === null ? null : [hi]];
  }
  const names = t.columns.map((c) => quoteIdent(c.name)).join(", ");
  const one = async (dir: "ASC" | "DESC") => {
    const sql = `SELECT ${selectKey(t.columns)} FROM (SELECT ${names} FROM ${table} WHERE ${filter.sql} LIMIT ${cap + 1}) AS d ${orderBy(t.columns, dir)} LIMIT 1`;
    const [row] = await queryText(conn, { sql, params: filter.params });
    return row?.every((v) => v !== null) ? (row as string[]) : null;
  };
  return [await one("ASC"), await one("DESC")];
}
