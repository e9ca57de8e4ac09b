import type { ExportRecord, PartitionRecord, PartitionState } from "../../config/records.ts";
import { duration, key } from "./format.ts";
import { fractionDone, partKey, type StatusWorld } from "./status.ts";

/**
 * One export's partitions as the status page's table shows them: range, how far the cursor is through it, owner,
 * attempts, last error, and the problem (if any) with the CLI command that acts on it. Same thresholds as
 * attention.ts and why.ts, so the page, `status` and `why` never disagree about what is stuck.
 */
export interface PartitionRow {
  partition: number;
  state: PartitionState;
  /** "lo..hi" with the open ends named. */
  range: string;
  /** 0..100: how far the cursor is through [lo, hi). */
  cursorPct: number;
  /** "keys": measured in the key space (one integer key column); "rows": committed rows over the plan's estimate. */
  basis: "keys" | "rows";
  owner: string | null;
  attempts: number;
  lastError: string | null;
  rows: number;
  estimatedRows: number;
  updatedAt: string;
  problem: { what: string; command: string } | null;
}

export const SORT_KEYS = ["partition", "state", "cursor", "owner", "attempts", "error", "rows", "updated"] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export function partitionRows(w: StatusWorld, exp: ExportRecord, parts: readonly PartitionRecord[], now: number): PartitionRow[] {
  return parts.map((p) => {
    const keys = keyFraction(exp, p);
    return {
      partition: p.partition,
      state: p.state,
      range: `${key(p.lo, "start")}..${key(p.hi, "end")}`,
      cursorPct: 100 * (keys ?? fractionDone(p)),
      basis: keys === null ? "rows" : "keys",
      owner: p.owner,
      attempts: p.attempts,
      lastError: p.lastError,
      rows: p.rows,
      estimatedRows: p.estimatedRows,
      updatedAt: p.updatedAt,
      problem: problemOf(w, p, now),
    };
  });
}

/**
 * The cursor's position in [lo, hi) for a single integer key column (exact, BigInt: keys reach 2^64-1), with the
 * export's low key and high watermark (inclusive) standing in for open ends. Null for any other key: a string or
 * composite key has no linear measure, so the caller falls back to rows over the estimate.
 */
export function keyFraction(exp: ExportRecord, p: PartitionRecord): number | null {
  if (p.state === "DONE") return 1;
  const col = exp.keyColumns[0];
  if (exp.keyColumns.length !== 1 || !col || (col.type !== "int" && col.type !== "uint")) return null;
  const big = (k: readonly string[] | null | undefined) => (k?.[0] !== undefined && /^-?\d+$/.test(k[0]) ? BigInt(k[0]) : null);
  const lo = big(p.lo ?? exp.lowKey);
  const hiInclusive = big(exp.highWatermark);
  const hi = p.hi ? big(p.hi) : hiInclusive === null ? null : hiInclusive + 1n;
  if (lo === null || hi === null || hi <= lo) return null;
  const cursor = big(p.cursor);
  if (cursor === null) return 0;
  const done = cursor - lo + 1n;
  // Scale to parts per million before dividing, so the result keeps precision however wide the range is.
  const ppm = (done * 1_000_000n) / (hi - lo);
  return Math.max(0, Math.min(1, Number(ppm) / 1_000_000));
}

/** What keeps a partition from moving, and the command that explains or fixes it; null when nothing does. */
function problemOf(w: StatusWorld, p: PartitionRecord, now: number): PartitionRow["problem"] {
  const s = w.settings;
  const why = `spotferry why ${p.exportId} ${p.partition}`;
  if (p.state === "QUARANTINED")
    return {
      what: `quarantined after ${p.attempts} attempt${p.attempts === 1 ? "" : "s"}`,
      command: `spotferry retry ${p.exportId} ${p.partition}`,
    };
  if (p.state === "PENDING" && p.notBefore && Date.parse(p.notBefore) > now) {
    return { what: `retry backoff for ${duration((Date.parse(p.notBefore) - now) / 1000)}`, command: why };
  }
  if (p.state !== "LEASED") return null;
  if (p.leaseExpiresAt && Date.parse(p.leaseExpiresAt) < now - s.skewMarginSec * 1000)
    return { what: "lease expired, not reaped", command: why };
  const node = w.nodeRecords.find((n) => n.instanceId === p.owner);
  if (node && (node.lifecycle === "INTERRUPTED" || node.lifecycle === "TERMINATED")) {
    return { what: `owner ${node.lifecycle.toLowerCase()}`, command: why };
  }
  const r = w.rates.get(partKey(p.exportId, p.partition));
  const since = r?.lastCheckpointAt ?? r?.claimedAt ?? null;
  if (since && now - Date.parse(since) > s.stallMinutes * 60_000)
    return { what: `no chunk for ${duration((now - Date.parse(since)) / 1000)}`, command: why };
  return null;
}

const STATE_RANK: Record<PartitionState, number> = { QUARANTINED: 0, LEASED: 1, PENDING: 2, DONE: 3 };

/** Sorts in place and returns the rows; ties break on partition number so the order is stable across reloads. */
export function sortPartitionRows(rows: PartitionRow[], by: SortKey, desc: boolean): PartitionRow[] {
  const value = (r: PartitionRow): number | string => {
    switch (by) {
      case "state":
        return STATE_RANK[r.state];
      case "cursor":
        return r.cursorPct;
      case "owner":
        return r.owner ?? "";
      case "attempts":
        return r.attempts;
      case "error":
        return r.lastError ?? "";
      case "rows":
        return r.rows;
      case "updated":
        return r.updatedAt;
      default:
        return r.partition;
    }
  };
  const sign = desc ? -1 : 1;
  return rows.sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    const c = typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb));
    return sign * c || a.partition - b.partition;
  });
}
