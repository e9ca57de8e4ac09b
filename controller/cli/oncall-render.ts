import Table from "cli-table3";
import type { Attention } from "../oncall/attention.ts";
import { formatUsd as usd } from "../oncall/cost.ts";
import { ago, bar, duration, num, pct, rate } from "../oncall/format.ts";
import { driftSummary, qualitySummary, type ScheduleStatus } from "../oncall/schedules.ts";
import type { ExportStatus, NodeStatus, PoolStatus, StatusSnapshot } from "../oncall/status.ts";

/** Human renderings of the on-call views, as strings (so `watch` can redraw them and tests can snapshot them). */

export const table = (head: string[]) => new Table({ head, style: { head: [], border: [] } });

export function renderAttention(items: Attention[]): string {
  if (!items.length) return "Nothing needs a human.\n";
  const lines = items.map((a) => `  ${a.level === "critical" ? "CRITICAL" : "WARNING "} ${a.message}\n           -> ${a.hint}`);
  return `NEEDS A HUMAN (${items.length})\n${lines.join("\n")}\n`;
}

export function renderExports(exports: ExportStatus[]): string {
  if (!exports.length) return "No exports.\n";
  const t = table(["export", "state", "done", "rows", "rows/s", "ETA", "cost so far", "leased", "pending", "quar.", "source"]);
  for (const e of exports) {
    t.push([
      e.exportId,
      e.state,
      pct(e.percent),
      `${num(e.rows)} / ${num(e.estimatedRows)}`,
      e.state === "RUNNING" ? rate(e.rowsPerSec) : "-",
      e.etaSeconds === null ? "-" : duration(e.etaSeconds),
      usd(e.costUsd),
      e.partitions.LEASED,
      e.partitions.PENDING,
      e.partitions.QUARANTINED,
      e.source,
    ]);
  }
  return `${t.toString()}\n`;
}

export function renderPools(pools: PoolStatus[]): string {
  if (!pools.length) return "No pools.\n";
  const t = table([
    "pool",
    "gen",
    "desired",
    "min-max",
    "ready",
    "launching",
    "draining",
    "interrupted",
    "spot/od",
    "oldest node",
    "pending",
    "cost so far",
  ]);
  for (const p of pools) {
    t.push([
      p.pool,
      p.generation,
      p.desiredSize,
      `${p.min}-${p.max}`,
      p.nodes.READY,
      p.nodes.LAUNCHING,
      p.nodes.DRAINING,
      p.nodes.INTERRUPTED,
      `${p.spot}/${p.onDemand}`,
      duration(p.oldestNodeAgeSec),
      p.pendingPartitions,
      usd(p.costUsd),
    ]);
  }
  return `${t.toString()}\n`;
}

/** Each schedule's watermark, then its newest runs: bounds, state, rows, quality per rule, schema drift. */
export function renderSchedules(schedules: ScheduleStatus[], now: number): string {
  if (!schedules.length) return "No schedules.\n";
  const heads = schedules.map(
    (sc) =>
      `  ${sc.name}: watermark ${sc.watermark ?? "(none yet)"}, ${sc.runs} run${sc.runs === 1 ? "" : "s"}, ` +
      `${sc.currentRun === null ? "no run in flight" : `run ${sc.currentRun} in flight`}` +
      `${sc.lastCheckedAt ? `; last idle check ${ago(sc.lastCheckedAt, now)}` : ""}`,
  );
  const t = table(["schedule", "run", "state", "watermark (after, up to]", "rows", "quality", "schema drift"]);
  for (const sc of schedules) {
    for (const r of sc.recentRuns) {
      t.push([
        sc.name,
        `${r.seq}${r.attempt > 1 ? ` (a${r.attempt})` : ""}`,
        r.state,
        `(${r.watermark.after ?? "-"}, ${r.watermark.upTo}]`,
        num(r.rows),
        qualitySummary(r.quality).replaceAll(", ", "\n"),
        driftSummary(r.drift),
      ]);
    }
  }
  return `${heads.join("\n")}\n${t.toString()}\n`;
}

export function renderStatus(s: StatusSnapshot, now: number): string {
  const leader = s.leader
    ? `controller: ${s.leader.owner} (term ${s.leader.term}, lease ${s.leader.expiresAt >= now ? "held" : `expired ${ago(new Date(s.leader.expiresAt).toISOString(), now)}`})`
    : "controller: none has run";
  return [
    `spotferry status at ${s.now}  ${leader}`,
    "",
    renderAttention(s.attention),
    "EXPORTS",
    renderExports(s.exports),
    "SCHEDULES",
    renderSchedules(s.schedules, now),
    "POOLS",
    renderPools(s.pools),
    "Cost: node price at launch x running time (controller/oncall/cost.ts); an estimate.",
    "",
  ].join("\n");
}

export function renderNodes(nodes: NodeStatus[]): string {
  if (!nodes.length) return "No nodes.\n";
  const t = table(["node", "pool", "lifecycle", "type", "zone", "market", "$/h", "age", "heartbeat", "partition", "rows/s"]);
  for (const n of nodes) {
    t.push([
      n.instanceId,
      n.pool,
      n.lifecycle,
      n.instanceType,
      n.zone,
      n.market,
      n.price.toFixed(4),
      duration(n.ageSec),
      n.heartbeatAgeSec === null ? "-" : `${duration(n.heartbeatAgeSec)} ago`,
      n.partitions.join(", ") || "-",
      n.partitions.length ? rate(n.rowsPerSec) : "-",
    ]);
  }
  return `${t.toString()}\n`;
}

export function renderNode(n: NodeStatus, now: number): string {
  const rows: [string, string][] = [
    ["pool", `${n.pool} (generation ${n.generation})`],
    ["lifecycle", `${n.lifecycle}${n.reason ? ` (${n.reason})` : ""}`],
    ["instance", `${n.instanceType} in ${n.zone}, ${n.market} at $${n.price.toFixed(4)}/h`],
    ["launched", `${n.launchedAt} (${ago(n.launchedAt, now)})`],
    ["last seen", n.lastSeenAt ? `${n.lastSeenAt} (${ago(n.lastSeenAt, now)})` : "never"],
    ["partitions", n.partitions.join(", ") || "none"],
    ["rows/s", n.partitions.length ? rate(n.rowsPerSec) : "-"],
    ["export", n.exportId ?? "-"],
    ["retiring", n.retiringAt ?? "-"],
    ["draining", n.drainingAt ?? "-"],
    ["terminated", n.terminatedAt ?? "-"],
    ["cost so far", usd(n.costUsd)],
  ];
  return `node ${n.instanceId}\n${rows.map(([k, v]) => `  ${k.padEnd(11)} ${v}`).join("\n")}\n`;
}

/** Partitions by fraction done: 10 buckets of 10 % plus "done", as text bars scaled to the largest bucket. */
export function histogram(fractions: number[]): { label: string; partitions: number }[] {
  const buckets = Array.from({ length: 10 }, (_, i) => ({ label: `${i * 10}-${i * 10 + 10}%`, partitions: 0 }));
  const done = { label: "done", partitions: 0 };
  for (const f of fractions) {
    if (f >= 1) done.partitions++;
    else (buckets[Math.min(9, Math.floor(f * 10))] as { partitions: number }).partitions++;
  }
  return [...buckets, done];
}

export function renderHistogram(fractions: number[], width = 40): string {
  const h = histogram(fractions);
  const max = Math.max(1, ...h.map((b) => b.partitions));
  return `${h.map((b) => `  ${b.label.padStart(7)} ${bar(b.partitions / max, width)} ${b.partitions}`).join("\n")}\n`;
}
