import type { Style } from "../../lib/cli/color.ts";
import { type Column, formatNumber as n, renderColumns } from "../../lib/cli/output.ts";
import type { Attention } from "../oncall/attention.ts";
import { formatUsd as usd } from "../oncall/cost.ts";
import { ago, bar, duration, pct } from "../oncall/format.ts";
import { driftSummary, qualitySummary, type ScheduleStatus } from "../oncall/schedules.ts";
import type { ExportStatus, NodeStatus, PoolStatus, StatusSnapshot } from "../oncall/status.ts";

/**
 * Human renderings of the on-call views, as strings (so `watch` can redraw them and tests can snapshot them): plain
 * aligned columns from lib/cli/output.ts; `wide` adds the columns the default leaves out. Colour (the attention levels
 * only, so column widths never count escapes) comes from the caller's painter, which is a no-op off a terminal.
 */

export type Paint = (style: Style, text: string) => string;
const noPaint: Paint = (_s, text) => text;

export interface RenderOptions {
  wide?: boolean;
  paint?: Paint;
}

export function renderAttention(items: Attention[], paint: Paint = noPaint): string {
  if (!items.length) return "Nothing needs a human.\n";
  const level = (a: Attention) => (a.level === "critical" ? paint("red", "CRITICAL") : paint("yellow", "WARNING "));
  const lines = items.map((a) => `  ${level(a)} ${a.message}\n           -> ${a.hint}`);
  return `NEEDS A HUMAN (${items.length})\n${lines.join("\n")}\n`;
}

const EXPORT_COLUMNS: Column<ExportStatus>[] = [
  { header: "export", value: (e) => e.exportId },
  { header: "state", value: (e) => e.state },
  { header: "done", value: (e) => pct(e.percent), align: "right" },
  { header: "rows", value: (e) => e.rows, align: "right" },
  { header: "est-rows", value: (e) => e.estimatedRows, align: "right" },
  { header: "rows/s", value: (e) => (e.state === "RUNNING" ? n(e.rowsPerSec) : "-"), align: "right" },
  { header: "eta", value: (e) => (e.etaSeconds === null ? "-" : duration(e.etaSeconds)) },
  { header: "cost", value: (e) => usd(e.costUsd), align: "right" },
  { header: "projected", value: (e) => (e.projectedCostUsd === null ? "-" : usd(e.projectedCostUsd)), align: "right", wide: true },
  { header: "leased", value: (e) => e.partitions.LEASED, align: "right" },
  { header: "pending", value: (e) => e.partitions.PENDING, align: "right" },
  { header: "quar", value: (e) => e.partitions.QUARANTINED, align: "right" },
  { header: "done-parts", value: (e) => `${n(e.partitions.DONE)}/${n(e.partitionCount)}`, align: "right", wide: true },
  { header: "pool", value: (e) => e.pool, wide: true },
  { header: "created", value: (e) => e.createdAt, wide: true },
  { header: "last-progress", value: (e) => e.lastProgressAt, wide: true },
  { header: "source", value: (e) => e.source },
  { header: "error", value: (e) => e.error, wide: true },
];

export function renderExports(exports: ExportStatus[], opts: RenderOptions = {}): string {
  if (!exports.length) return "No exports.\n";
  return renderColumns(EXPORT_COLUMNS, exports, opts);
}

const POOL_COLUMNS: Column<PoolStatus>[] = [
  { header: "pool", value: (p) => p.pool },
  { header: "gen", value: (p) => p.generation, align: "right" },
  { header: "desired", value: (p) => p.desiredSize, align: "right" },
  { header: "min-max", value: (p) => `${p.min}-${p.max}`, align: "right" },
  { header: "ready", value: (p) => p.nodes.READY, align: "right" },
  { header: "launching", value: (p) => p.nodes.LAUNCHING, align: "right" },
  { header: "draining", value: (p) => p.nodes.DRAINING, align: "right" },
  { header: "interrupted", value: (p) => p.nodes.INTERRUPTED, align: "right" },
  { header: "spot/od", value: (p) => `${p.spot}/${p.onDemand}`, align: "right" },
  { header: "oldest", value: (p) => duration(p.oldestNodeAgeSec) },
  { header: "pending", value: (p) => p.pendingPartitions, align: "right" },
  { header: "interruptions", value: (p) => p.interruptions, align: "right", wide: true },
  { header: "replacements", value: (p) => p.replacements, align: "right", wide: true },
  { header: "rotate-requested", value: (p) => p.rotateRequestedAt, wide: true },
  { header: "cost", value: (p) => usd(p.costUsd), align: "right" },
];

export function renderPools(pools: PoolStatus[], opts: RenderOptions = {}): string {
  if (!pools.length) return "No pools.\n";
  return renderColumns(POOL_COLUMNS, pools, opts);
}

interface RunRow {
  schedule: ScheduleStatus;
  run: ScheduleStatus["recentRuns"][number];
}

const RUN_COLUMNS: Column<RunRow>[] = [
  { header: "schedule", value: (r) => r.schedule.name },
  { header: "run", value: (r) => `${r.run.seq}${r.run.attempt > 1 ? `(a${r.run.attempt})` : ""}`, align: "right" },
  { header: "state", value: (r) => r.run.state },
  { header: "rows", value: (r) => r.run.rows, align: "right" },
  { header: "after", value: (r) => r.run.watermark.after, wide: true },
  { header: "up-to", value: (r) => r.run.watermark.upTo },
  { header: "quality", value: (r) => qualitySummary(r.run.quality) },
  { header: "schema-drift", value: (r) => driftSummary(r.run.drift) },
];

/** Each schedule's watermark, then its newest runs: bounds, state, rows, quality per rule, schema drift. */
export function renderSchedules(schedules: ScheduleStatus[], now: number, opts: RenderOptions = {}): string {
  if (!schedules.length) return "No schedules.\n";
  const heads = schedules.map(
    (sc) =>
      `  ${sc.name}: watermark ${sc.watermark ?? "(none yet)"}, ${sc.runs} run${sc.runs === 1 ? "" : "s"}, ` +
      `${sc.currentRun === null ? "no run in flight" : `run ${sc.currentRun} in flight`}` +
      `${sc.lastCheckedAt ? `; last idle check ${ago(sc.lastCheckedAt, now)}` : ""}`,
  );
  const rows = schedules.flatMap((schedule) => schedule.recentRuns.map((run) => ({ schedule, run })));
  return `${heads.join("\n")}\n${rows.length ? renderColumns(RUN_COLUMNS, rows, opts) : ""}`;
}

export function renderStatus(s: StatusSnapshot, now: number, opts: RenderOptions = {}): string {
  const leader = s.leader
    ? `controller: ${s.leader.owner} (term ${s.leader.term}, lease ${s.leader.expiresAt >= now ? "held" : `expired ${ago(new Date(s.leader.expiresAt).toISOString(), now)}`})`
    : "controller: none has run";
  return [
    `spotferry status at ${s.now}  ${leader}`,
    "",
    renderAttention(s.attention, opts.paint),
    "EXPORTS",
    renderExports(s.exports, opts),
    "SCHEDULES",
    renderSchedules(s.schedules, now, opts),
    "POOLS",
    renderPools(s.pools, opts),
    "Cost: node price at launch x running time (controller/oncall/cost.ts); an estimate.",
    "",
  ].join("\n");
}

const NODE_COLUMNS: Column<NodeStatus>[] = [
  { header: "node", value: (x) => x.instanceId },
  { header: "pool", value: (x) => x.pool },
  { header: "gen", value: (x) => x.generation, align: "right", wide: true },
  { header: "lifecycle", value: (x) => x.lifecycle },
  { header: "type", value: (x) => x.instanceType },
  { header: "zone", value: (x) => x.zone },
  { header: "market", value: (x) => x.market },
  { header: "$/h", value: (x) => x.price.toFixed(4), align: "right" },
  { header: "age", value: (x) => duration(x.ageSec) },
  { header: "heartbeat", value: (x) => (x.heartbeatAgeSec === null ? "-" : duration(x.heartbeatAgeSec)) },
  { header: "partition", value: (x) => x.partitions.join(",") },
  { header: "rows/s", value: (x) => (x.partitions.length ? n(x.rowsPerSec) : "-"), align: "right" },
  { header: "export", value: (x) => x.exportId, wide: true },
  { header: "launched", value: (x) => x.launchedAt, wide: true },
  { header: "cost", value: (x) => usd(x.costUsd), align: "right", wide: true },
  { header: "reason", value: (x) => x.reason, wide: true },
];

export function renderNodes(nodes: NodeStatus[], opts: RenderOptions = {}): string {
  if (!nodes.length) return "No nodes.\n";
  return renderColumns(NODE_COLUMNS, nodes, opts);
}

export function renderNode(x: NodeStatus, now: number): string {
  const rows: [string, string][] = [
    ["pool", `${x.pool} (generation ${x.generation})`],
    ["lifecycle", `${x.lifecycle}${x.reason ? ` (${x.reason})` : ""}`],
    ["instance", `${x.instanceType} in ${x.zone}, ${x.market} at $${x.price.toFixed(4)}/h`],
    ["launched", `${x.launchedAt} (${ago(x.launchedAt, now)})`],
    ["last seen", x.lastSeenAt ? `${x.lastSeenAt} (${ago(x.lastSeenAt, now)})` : "never"],
    ["partitions", x.partitions.join(", ") || "none"],
    ["rows/s", x.partitions.length ? n(x.rowsPerSec) : "-"],
    ["export", x.exportId ?? "-"],
    ["retiring", x.retiringAt ?? "-"],
    ["draining", x.drainingAt ?? "-"],
    ["terminated", x.terminatedAt ?? "-"],
    ["cost so far", usd(x.costUsd)],
  ];
  return `node ${x.instanceId}\n${rows.map(([k, v]) => `  ${k.padEnd(11)} ${v}`).join("\n")}\n`;
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
