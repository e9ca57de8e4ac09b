import type { Connection } from "mysql2/promise";
import type { ExportRecord, PartitionRecord, SourceKey } from "../../config/records.ts";
import { openSource, queryText } from "../../lib/mysql/connect.ts";
import { and, type Fragment, orderBy, quoteIdent, rangePredicate, selectKey } from "../../lib/mysql/key-sql.ts";
import { describeTable, filterSql } from "../../lib/mysql/schema.ts";

/**
 * Where to split a partition's remainder: a real key from the source's index, never a key-space midpoint (ids are
 * sparse and skewed: the midpoint of [1, 2^64) says nothing about where the rows are).
 */
export interface SplitChoice {
  /** The first key of the new partition: strictly after the cursor (or lo) and before hi. */
  at: SourceKey;
  /** Rows estimated in [at, hi): what the new partition is recorded with. */
  newRows: number;
  /** Rows between the cursor (or lo) and `at`: how far the owner can read on before the split point. */
  ahead: number;
}

/** Port: the splitting reconciler's only view of the source. */
export interface SplitFinder {
  /**
   * The key about `remainingRows / 2` rows into the remainder of `p` (after its cursor, else from lo, up to hi or the
   * export's high watermark), read through the export's key index. Null when the remainder is too small to split
   * (fewer rows than estimated, or fewer than two). Read-only and idempotent; throws (wrapped) on source failures.
   */
  findSplit(exp: ExportRecord, p: PartitionRecord, remainingRows: number): Promise<SplitChoice | null>;
  close(): Promise<void>;
}

interface Target {
  conn: Connection;
  from: string;
  filter: Fragment | null;
}

/**
 * SplitFinder over MySQL/MariaDB: one connection per export source, opened on first use (the controller splits
 * rarely, so a pool would only hold idle connections). The remainder's size is the planner's per-partition count
 * (exact from the walk, estimated from range estimates) minus the rows committed since: no COUNT(*) on the hot path. One index dive (`LIMIT 1 OFFSET n`) finds the
 * median key, reading about n index entries, the same cost per row as the planner's walk; if the estimate was high
 * and the dive lands past the end, a capped count of the remainder gives the real size and a second dive is made.
 */
export class MysqlSplitFinder implements SplitFinder {
  private readonly deps: { env?: Record<string, string | undefined> };
  private readonly targets = new Map<string, Promise<Target>>();

  constructor(deps: { env?: Record<string, string | undefined> } = {}) {
    this.deps = deps;
  }

  private target(exp: ExportRecord): Promise<Target> {
    let t = this.targets.get(exp.exportId);
    if (!t) {
      t = (async () => {
        const src = exp.spec.source;
        const conn = await openSource(src, this.deps.env);
        try {
          const info = await describeTable(conn, src.database, src.table);
          const from = `FROM ${quoteIdent(info.database)}.${quoteIdent(info.table)} FORCE INDEX (${quoteIdent(exp.keyIndex)})`;
          return { conn, from, filter: filterSql(info, src.filter) };
        } catch (err) {
          await conn.end().catch(() => {});
          throw err;
        }
      })();
      t.catch(() => this.targets.delete(exp.exportId));
      this.targets.set(exp.exportId, t);
    }
    return t;
  }

  async findSplit(exp: ExportRecord, p: PartitionRecord, remainingRows: number): Promise<SplitChoice | null> {
    const what = `finding a split key for partition ${p.partition} of export ${exp.exportId}`;
    try {
      const t = await this.target(exp);
      const where = and(
        rangePredicate(exp.keyColumns, { lo: p.lo, hi: p.hi, cursor: p.cursor, highWatermark: exp.highWatermark }),
        t.filter,
      );
      const dive = async (offset: number): Promise<SourceKey | null> => {
        const rows = await queryText(t.conn, {
          sql: `SELECT ${selectKey(exp.keyColumns)} ${t.from} WHERE ${where.sql} ${orderBy(exp.keyColumns)} LIMIT 1 OFFSET ${offset}`,
          params: where.params,
        });
        const row = rows[0];
        if (!row || row.some((v) => v === null)) return null;
        return row as string[];
      };
      let remaining = Math.floor(remainingRows);
      // OFFSET >= 1: the key is strictly after the first row of the remainder, hence after the cursor (or lo).
      if (remaining < 2) return null;
      let at = await dive(Math.floor(remaining / 2));
      if (!at) {
        const counted = await queryText(t.conn, {
          sql: `SELECT COUNT(*) FROM (SELECT 1 ${t.from} WHERE ${where.sql} LIMIT ${remaining}) AS capped`,
          params: where.params,
        });
        remaining = Number(counted[0]?.[0] ?? 0);
        if (remaining < 2) return null;
        at = await dive(Math.floor(remaining / 2));
        if (!at) return null;
      }
      return { at, newRows: remaining - Math.floor(remaining / 2), ahead: Math.floor(remaining / 2) };
    } catch (cause) {
      // Reconnect next time: the connection may be the thing that broke (server restart, idle timeout).
      const stale = this.targets.get(exp.exportId);
      this.targets.delete(exp.exportId);
      stale?.then((t) => t.conn.end()).catch(() => {});
      throw new Error(what, { cause });
    }
  }

  async close(): Promise<void> {
    const all = [...this.targets.values()];
    this.targets.clear();
    await Promise.all(all.map(async (t) => (await t.catch(() => null))?.conn.end().catch(() => {})));
  }
}
