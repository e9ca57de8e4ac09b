import type { NodeRecord, PoolRecord } from "../../config/records.ts";

/**
 * Interruptions and rotations, newest first, from pool and node records (the ledger has exact times too, but reading
 * it for every partition would not fit the status page's one-second budget). Node records carry no time for the
 * move to INTERRUPTED itself, so its item uses the node's termination time, else its last heartbeat.
 */
export interface TimelineItem {
  at: string;
  kind: "interrupted" | "drained" | "rotation" | "terminated";
  pool: string;
  node: string | null;
  detail: string;
}

const LIMIT = 50;

export function buildTimeline(pools: readonly PoolRecord[], nodes: readonly NodeRecord[]): TimelineItem[] {
  const items: TimelineItem[] = [];
  for (const p of pools) {
    if (p.rotateRequestedAt) {
      items.push({
        at: p.rotateRequestedAt,
        kind: "rotation",
        pool: p.pool,
        node: null,
        detail: `rotation to generation ${p.generation} requested`,
      });
    }
  }
  for (const n of nodes) {
    const reason = n.reason ?? "";
    if (n.lifecycle === "INTERRUPTED" || /interrupt|spot|notice|vanished|gone/i.test(reason)) {
      const at = n.terminatedAt ?? n.heartbeatAt ?? n.readyAt ?? n.launchedAt;
      items.push({
        at,
        kind: "interrupted",
        pool: n.pool,
        node: n.instanceId,
        detail: `${n.instanceType} in ${n.zone}: ${reason || "interrupted"}`,
      });
    } else if (n.drainingAt) {
      items.push({
        at: n.drainingAt,
        kind: "drained",
        pool: n.pool,
        node: n.instanceId,
        detail: `generation ${n.generation}: ${reason || "draining"}`,
      });
    } else if (n.terminatedAt) {
      items.push({ at: n.terminatedAt, kind: "terminated", pool: n.pool, node: n.instanceId, detail: reason || "terminated" });
    }
  }
  return items.sort((a, b) => b.at.localeCompare(a.at) || (a.node ?? "").localeCompare(b.node ?? "")).slice(0, LIMIT);
}
