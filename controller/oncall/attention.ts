import type { PartitionRecord } from "../../config/records.ts";
import { formatUsd } from "./cost.ts";
import { ago, duration } from "./format.ts";
import type { ScheduleStatus } from "./schedules.ts";
import type { ExportStatus, PoolStatus, StatusSnapshot, StatusWorld } from "./status.ts";

/**
 * What needs a human, worst first. Each item names its subject and the one command that explains or fixes it, so
 * `spotferry status` can list them before anything else and scripts can branch on `kind`.
 */
export interface Attention {
  level: "critical" | "warning";
  kind:
    | "no-controller"
    | "export-failed"
    | "cost-hold"
    | "schedule-drift"
    | "schedule-failed"
    | "no-nodes"
    | "quarantined"
    | "lease-expired"
    | "not-heartbeating"
    | "stalled";
  exportId?: string;
  schedule?: string;
  pool?: string;
  node?: string;
  partitions?: number[];
  message: string;
  /** The command to run next. */
  hint: string;
}

const ORDER: Attention["kind"][] = [
  "no-controller",
  "export-failed",
  "cost-hold",
  "schedule-drift",
  "schedule-failed",
  "no-nodes",
  "quarantined",
  "lease-expired",
  "not-heartbeating",
  "stalled",
];
const list = (ns: number[]) => (ns.length > 5 ? `${ns.slice(0, 5).join(", ")} and ${ns.length - 5} more` : ns.join(", "));

export function findAttention(w: StatusWorld, now: number): Attention[] {
  const snap = w.snapshot;
  const active = snap.exports.filter((e) => e.state === "RUNNING");
  const out: Attention[] = [
    ...controllerAttention(snap.leader, active, now),
    ...failedExports(snap.exports),
    ...heldExports(active),
    ...scheduleAttention(snap.schedules),
    ...poolAttention(snap.pools, active),
    ...snap.exports.flatMap((e) => exportAttention(w, e, now)),
    ...nodeAttention(w, active),
  ];
  return out.sort(
    (a, b) =>
      (a.level === b.level ? 0 : a.level === "critical" ? -1 : 1) ||
      ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind) ||
      (a.exportId ?? a.schedule ?? a.pool ?? a.node ?? "").localeCompare(b.exportId ?? b.schedule ?? b.pool ?? b.node ?? ""),
  );
}

function controllerAttention(leader: StatusSnapshot["leader"], active: ExportStatus[], now: number): Attention[] {
  const lapsed = !leader || leader.expiresAt < now;
  if (!active.length || !lapsed) return [];
  return [
    {
      level: "critical",
      kind: "no-controller",
      message: leader
        ? `no controller holds the leader lease (last held by ${leader.owner}, expired ${ago(new Date(leader.expiresAt).toISOString(), now)}): nothing replaces nodes, reaps leases or finalizes`
        : "no controller has ever run against this state table: nothing provisions nodes, reaps leases or finalizes",
      hint: "spotferry controller run --config controller.yaml",
    },
  ];
}

function failedExports(exports: ExportStatus[]): Attention[] {
  return exports
    .filter((x) => x.state === "FAILED")
    .map((e) => ({
      level: "critical",
      kind: "export-failed",
      exportId: e.exportId,
      message: `export ${e.exportId} FAILED: ${e.error ?? "no error recorded"}`,
      hint: `spotferry why ${e.exportId}`,
    }));
}

// The spend cap stopped launching for an export: running chunks commit, nothing new starts until someone decides.
function heldExports(active: ExportStatus[]): Attention[] {
  return active.flatMap((e): Attention[] => {
    const h = e.costHold;
    if (!h) return [];
    const usd = formatUsd;
    return [
      {
        level: "critical",
        kind: "cost-hold",
        exportId: e.exportId,
        message: `export ${e.exportId} is held by its spend cap: projected ${usd(h.projectedUsd)} passes maxCost ${usd(h.capUsd)} (spent ${usd(h.spentUsd)}); no node is launched for it`,
        hint: `spotferry export show ${e.exportId}  (then cancel it, or plan it again with a higher maxCost)`,
      },
    ];
  });
}

// A schedule whose run in flight failed: its watermark stands still until the run is retried (every tick retries
// it with the same bounds); a schema change under policy freeze fails every retry until someone decides.
function scheduleAttention(schedules: ScheduleStatus[]): Attention[] {
  const out: Attention[] = [];
  for (const sc of schedules) {
    const run = sc.recentRuns.find((r) => r.seq === sc.currentRun);
    if (run?.state !== "FAILED") continue;
    const drift = run.drift.action === "failed";
    out.push({
      level: "critical",
      kind: drift ? "schedule-drift" : "schedule-failed",
      schedule: sc.name,
      message: drift
        ? `schedule ${sc.name}: run ${run.seq} refused a schema change (policy ${run.drift.policy}): ${run.drift.message}`
        : `schedule ${sc.name}: run ${run.seq} (attempt ${run.attempt}) FAILED; watermark held at ${sc.watermark ?? "(none yet)"}: ${(run.error ?? "no error recorded").slice(0, 200)}`,
      hint: `spotferry schedule status --name ${sc.name}`,
    });
  }
  return out;
}

function poolAttention(pools: PoolStatus[], active: ExportStatus[]): Attention[] {
  const out: Attention[] = [];
  for (const pool of pools) {
    const work = active.filter((e) => e.pool === pool.pool && e.partitions.PENDING + e.partitions.LEASED > 0);
    if (work.length && pool.nodes.LAUNCHING + pool.nodes.READY === 0) {
      out.push({
        level: "critical",
        kind: "no-nodes",
        pool: pool.pool,
        message: `pool ${pool.pool} has no launching or ready nodes while ${work.map((e) => e.exportId).join(", ")} ${work.length > 1 ? "wait" : "waits"} for work (desired ${pool.desiredSize}, max ${pool.max})`,
        hint: `spotferry why ${work[0]?.exportId}`,
      });
    }
  }
  return out;
}

/** What one export needs: quarantined partitions, expired leases nobody reaped, no progress. */
function exportAttention(w: StatusWorld, e: ExportStatus, now: number): Attention[] {
  const parts = w.partitions.get(e.exportId) ?? [];
  return [
    quarantinedPartitions(e, parts),
    expiredLeases(e, parts, now - w.settings.skewMarginSec * 1000, now),
    stalledExport(e, w.settings, now),
  ].filter((a): a is Attention => a !== null);
}

function quarantinedPartitions(e: ExportStatus, parts: PartitionRecord[]): Attention | null {
  const quarantined = parts.filter((p) => p.state === "QUARANTINED");
  if (!quarantined.length || e.state !== "RUNNING") return null;
  const first = quarantined[0];
  return {
    level: "critical",
    kind: "quarantined",
    exportId: e.exportId,
    partitions: quarantined.map((p) => p.partition),
    message: `export ${e.exportId}: ${quarantined.length} partition${quarantined.length > 1 ? "s" : ""} quarantined (${list(quarantined.map((p) => p.partition))}); last error: ${(first?.lastError ?? "none").slice(0, 160)}`,
    hint: `spotferry why ${e.exportId} ${first?.partition}`,
  };
}

function expiredLeases(e: ExportStatus, parts: PartitionRecord[], cutoff: number, now: number): Attention | null {
  const expired = parts.filter((p) => p.state === "LEASED" && p.leaseExpiresAt && Date.parse(p.leaseExpiresAt) < cutoff);
  if (!expired.length) return null;
  const first = expired[0];
  return {
    level: "warning",
    kind: "lease-expired",
    exportId: e.exportId,
    partitions: expired.map((p) => p.partition),
    message: `export ${e.exportId}: ${expired.length} lease${expired.length > 1 ? "s" : ""} expired but not reaped (${list(expired.map((p) => p.partition))}; ${first?.owner}'s expired ${ago(first?.leaseExpiresAt ?? null, now)}): is the controller running?`,
    hint: `spotferry why ${e.exportId} ${first?.partition}`,
  };
}

function stalledExport(e: ExportStatus, s: StatusWorld["settings"], now: number): Attention | null {
  if (e.state !== "RUNNING" || e.percent >= 100) return null;
  const since = e.lastProgressAt ?? e.createdAt;
  const idle = (now - Date.parse(since)) / 1000;
  if (idle <= s.stallMinutes * 60) return null;
  return {
    level: "warning",
    kind: "stalled",
    exportId: e.exportId,
    message: `export ${e.exportId} has made no progress for ${duration(idle)} (${e.lastProgressAt ? "last chunk committed" : "created"} ${ago(since, now)}; ${e.partitions.LEASED} leased, ${e.partitions.PENDING} pending)`,
    hint: `spotferry why ${e.exportId}`,
  };
}

function nodeAttention(w: StatusWorld, active: ExportStatus[]): Attention[] {
  const s = w.settings;
  const poolsWithWork = new Set(active.filter((e) => e.partitions.PENDING > 0).map((e) => e.pool));
  const out: Attention[] = [];
  for (const n of w.snapshot.nodes) {
    if (n.lifecycle !== "READY") continue;
    const age = n.heartbeatAgeSec ?? n.ageSec;
    if (age <= s.heartbeatTimeoutSec || !(n.partitions.length || poolsWithWork.has(n.pool))) continue;
    out.push({
      level: "warning",
      kind: "not-heartbeating",
      node: n.instanceId,
      pool: n.pool,
      message: `node ${n.instanceId} (${n.pool}) has not heartbeated for ${duration(age)}${n.partitions.length ? ` while holding ${n.partitions.join(", ")}` : " while work waits"}`,
      hint: `spotferry node show ${n.instanceId}`,
    });
  }
  return out;
}
