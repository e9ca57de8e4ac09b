import type { Connection } from "mysql2/promise";
import type { KeyColumn, SourceKey } from "../../config/records.ts";
import { queryText } from "../../lib/mysql/connect.ts";
import { and, compareKey, type Fragment, orderBy, quoteIdent, selectKey } from "../../lib/mysql/key-sql.ts";

export interface WalkTarget {
  database: string;
  table: string;
  index: string;
  columns: KeyColumn[];
  filter: Fragment | null;
}

export interface Boundaries {
  lowKey: SourceKey | null;
  highWatermark: SourceKey | null;
  /** Partition i is [bounds[i-1], bounds[i]) with open ends; bounds.length + 1 partitions (none for an empty table). */
  bounds: SourceKey[];
  /** Rows per partition: exact when walked, the optimizer's estimate when `estimated` (estimate.ts). */
  rows: number[];
  /** Statements that read index entries (edges, dives, snaps). */
  dives: number;
  /** True when `rows` are estimates (estimateBoundaries), absent or false when counted by the walk. */
  estimated?: boolean;
  /** EXPLAIN range estimates and extent lookups spent on the histogram (estimateBoundaries). */
  probes?: number;
}

const from = (t: WalkTarget) => `FROM ${quoteIdent(t.database)}.${quoteIdent(t.table)} FORCE INDEX (${quoteIdent(t.index)})`;

const toKey = (row: (string | null)[] | undefined): SourceKey | null => {
  if (!row) return null;
  if (row.some((v) => v === null)) throw new Error("a key column returned NULL although the index is unique and NOT NULL");
  return row as string[];
};

/** The first (or last) key of the table, within the filter. */
export async function edgeKey(conn: Connection, t: WalkTarget, dir: "ASC" | "DESC"): Promise<SourceKey | null> {
  const where = and(t.filter);
  const rows = await queryText(conn, {
    sql: `SELECT ${selectKey(t.columns)} ${from(t)} WHERE ${where.sql} ${orderBy(t.columns, dir)} LIMIT 1`,
    params: where.params,
  });
  return toKey(rows[0]);
}

/** The SQL of one index dive: the key `offset` rows after `start` (inclusive) in index order, up to the watermark. */
export function diveQuery(t: WalkTarget, start: SourceKey | null, offset: number, highWatermark: SourceKey): Fragment {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new Error(`bad offset ${offset}`);
  const where = and(start ? compareKey(t.columns, ">=", start) : null, compareKey(t.columns, "<=", highWatermark), t.filter);
  return {
    sql: `SELECT ${selectKey(t.columns)} ${from(t)} WHERE ${where.sql} ${orderBy(t.columns)} LIMIT 1 OFFSET ${offset}`,
    params: where.params,
  };
}

/** Rows from `start` (inclusive) to the watermark, counting no further than `cap`. */
async function countUpTo(conn: Connection, t: WalkTarget, start: SourceKey | null, highWatermark: SourceKey, cap: number): Promise<number> {
  const where = and(start ? compareKey(t.columns, ">=", start) : null, compareKey(t.columns, "<=", highWatermark), t.filter);
  const rows = await queryText(conn, {
    sql: `SELECT COUNT(*) FROM (SELECT 1 ${from(t)} WHERE ${where.sql} ${orderBy(t.columns)} LIMIT ${cap}) AS capped`,
    params: where.params,
  });
  return Number(rows[0]?.[0] ?? 0);
}

/**
 * Cuts the key space into partitions of exactly `step` rows by chained index dives: each dive skips `step` index
 * entries from the previous boundary (LIMIT 1 OFFSET step) and returns the next boundary, so gaps, dense clusters
 * and keys past 2^53 cost nothing extra and every partition but the last holds exactly `step` rows. The last one is
 * merged into its neighbour when it is under half a step, so the largest is at most 1.5x the others. When the
 * boundaries would exceed maxPartitions, every other one is dropped and the step doubles. Cost: one pass over the
 * index entries in key order, about what a COUNT(*) over the same index reads, but in many short statements. The
 * planner's exact mode: small tables, filtered scopes and keys the estimator cannot bisect (estimate.ts).
 */
export async function walkBoundaries(
  conn: Connection,
  t: WalkTarget,
  options: { step: number; maxPartitions: number; onProgress?: (bounds: number, step: number) => void },
): Promise<Boundaries> {
  const lowKey = await edgeKey(conn, t, "ASC");
  const highWatermark = await edgeKey(conn, t, "DESC");
  if (!lowKey || !highWatermark) return { lowKey: null, highWatermark: null, bounds: [], rows: [], dives: 2 };
  let step = Math.max(1, Math.floor(options.step));
  let bounds: SourceKey[] = [];
  let dives = 2;
  for (;;) {
    const start = bounds.at(-1) ?? null;
    dives++;
    const next = toKey((await queryText(conn, diveQuery(t, start, step, highWatermark)))[0]);
    if (!next) break;
    bounds.push(next);
    options.onProgress?.(bounds.length, step);
    if (bounds.length + 1 > options.maxPartitions) {
      bounds = bounds.filter((_, i) => i % 2 === 1);
      step *= 2;
    }
  }
  let tail = await countUpTo(conn, t, bounds.at(-1) ?? null, highWatermark, step);
  if (bounds.length > 0 && tail < step / 2) {
    bounds.pop();
    tail += step;
  }
  const rows = [...bounds.map(() => step), tail];
  return { lowKey, highWatermark, bounds, rows, dives };
}
