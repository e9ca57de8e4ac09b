import { formatUsd } from "../oncall/cost.ts";

/**
 * The plan-time estimate of an export: how many nodes, for how long, at what cost. Pure arithmetic over figures the
 * callers measured (throughput.ts: the rate; prices.ts: the pool's current prices), so the CLI, the rehearsal and the
 * tests share one model. Every assumption the model makes is listed in `assumptions`, and printed with the figures.
 *
 * Model:
 * - Nodes: the size provisioning will ask for, ceil(partitions / partitionsPerNode) within the pool's [min, max].
 * - Work slots: nodes x partitionsPerNode (one agent process per slot), at most one per partition.
 * - Rate per slot: the measured rate (history or probe), capped by source.maxRowsPerSecond.
 * - Time to finish: boot + rows / (slots x rate per slot). Splitting keeps slots busy to the end, so the tail of
 *   uneven partitions is not modelled.
 * - Node-hours: nodes x time to finish (nodes are billed from launch; idle ones are drained as work runs out, so this
 *   errs high). Cost: node-hours x the median current price of the pool's (type, zone) pairs; low/high use the
 *   cheapest and dearest pair.
 */

export interface Throughput {
  /** Rows per second one agent process (one work slot) sustains. */
  rowsPerSecondPerSlot: number;
  /** Where it came from: past exports in the state table, or a timed read of the source now. */
  source: "history" | "probe";
  /** One line saying what was measured, for the assumptions. */
  detail: string;
  /** History rates already include boot and drain time; a probe's do not. */
  includesBoot: boolean;
}

export interface PoolPricing {
  market: "spot" | "on-demand";
  /** USD per node-hour: median, lowest and highest over the pool's (type, zone) pairs; null when none is known. */
  median: number | null;
  low: number | null;
  high: number | null;
  /** (type, zone) pairs priced. */
  pairs: number;
  detail: string;
}

export interface EstimatePool {
  name: string;
  min: number;
  max: number;
  partitionsPerNode: number;
}

export interface EstimateInput {
  exportId: string;
  rows: number;
  partitions: number;
  /** Null when the spec's pool has not been applied (no sizing, no prices). */
  pool: EstimatePool | null;
  throughput: Throughput | null;
  pricing: PoolPricing | null;
  /** source.maxRowsPerSecond: the per-agent cap the spec sets. */
  maxRowsPerSecond?: number;
  /** Seconds from launch to a working agent, added to a probe's time (history already includes it). */
  bootSeconds: number;
}

export interface ExportEstimate {
  exportId: string;
  rows: number;
  partitions: number;
  pool: string | null;
  nodes: number | null;
  slots: number | null;
  /** The whole fleet's rate, rows/s. */
  rowsPerSecond: number | null;
  durationSeconds: number | null;
  nodeHours: number | null;
  costUsd: number | null;
  costLowUsd: number | null;
  costHighUsd: number | null;
  throughputSource: Throughput["source"] | null;
  assumptions: string[];
}

/** The estimate from measured figures; fields the inputs cannot give are null (and the assumptions say why). */
export function buildEstimate(i: EstimateInput): ExportEstimate {
  const assumptions: string[] = [];
  const est: ExportEstimate = {
    exportId: i.exportId,
    rows: i.rows,
    partitions: i.partitions,
    pool: i.pool?.name ?? null,
    nodes: null,
    slots: null,
    rowsPerSecond: null,
    durationSeconds: null,
    nodeHours: null,
    costUsd: null,
    costLowUsd: null,
    costHighUsd: null,
    throughputSource: i.throughput?.source ?? null,
    assumptions,
  };
  if (!i.pool) {
    assumptions.push("the spec's pool is not applied (`spotferry pool apply`): no fleet size, time or cost");
    return est;
  }
  const k = i.pool.partitionsPerNode;
  const nodes = Math.min(i.pool.max, Math.max(i.pool.min, Math.ceil(i.partitions / k)));
  est.nodes = nodes;
  est.slots = Math.min(i.partitions, nodes * k);
  assumptions.push(`${nodes} nodes (ceil(${i.partitions} partitions / ${k} per node) within [${i.pool.min}, ${i.pool.max}])`);
  if (!i.throughput) {
    assumptions.push("no throughput measured (no past export of this table and no probe): no time or cost");
    return est;
  }
  assumptions.push(i.throughput.detail);
  let perSlot = i.throughput.rowsPerSecondPerSlot;
  if (i.maxRowsPerSecond !== undefined && i.maxRowsPerSecond < perSlot) {
    perSlot = i.maxRowsPerSecond;
    assumptions.push(`capped at source.maxRowsPerSecond ${n(i.maxRowsPerSecond)} rows/s per agent process`);
  }
  est.rowsPerSecond = est.slots * perSlot;
  const boot = i.throughput.includesBoot ? 0 : i.bootSeconds;
  if (boot > 0) assumptions.push(`${Math.round(boot)} s from launch to a working agent`);
  est.durationSeconds = est.rowsPerSecond > 0 ? boot + i.rows / est.rowsPerSecond : null;
  if (est.durationSeconds === null) return est;
  est.nodeHours = (nodes * est.durationSeconds) / 3600;
  assumptions.push("every node billed for the whole run (idle nodes are drained earlier, so cost errs high)");
  const p = i.pricing;
  if (!p || p.median === null) {
    assumptions.push(p ? p.detail : "no prices read: no cost");
    return est;
  }
  assumptions.push(p.detail);
  est.costUsd = est.nodeHours * p.median;
  est.costLowUsd = p.low === null ? null : est.nodeHours * p.low;
  est.costHighUsd = p.high === null ? null : est.nodeHours * p.high;
  return est;
}

const n = (x: number) => Math.round(x).toLocaleString("en-US");

/** Seconds as "1h02m", "4m05s", "12s". */
export function formatDuration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return "?";
  const t = Math.round(s);
  if (t >= 3600) return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, "0")}m`;
  if (t >= 60) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, "0")}s`;
  return `${t}s`;
}

/** The estimate as the lines `export plan` prints under the plan (no trailing newlines). */
export function describeEstimate(est: ExportEstimate): string[] {
  const range = est.costLowUsd !== null && est.costHighUsd !== null ? ` (${formatUsd(est.costLowUsd)}-${formatUsd(est.costHighUsd)})` : "";
  const lines = [
    "estimate (before any node is launched):",
    `  partitions:     ${n(est.partitions)} for ${n(est.rows)} rows`,
    `  nodes:          ${est.nodes === null ? "?" : `${est.nodes} in pool ${est.pool}, ${est.slots} agent processes`}`,
    `  rate:           ${est.rowsPerSecond === null ? "?" : `${n(est.rowsPerSecond)} rows/s`}${est.throughputSource ? ` (from ${est.throughputSource})` : ""}`,
    `  time to finish: ${formatDuration(est.durationSeconds)}`,
    `  node-hours:     ${est.nodeHours === null ? "?" : est.nodeHours.toFixed(3)}`,
    `  cost:           ${formatUsd(est.costUsd)}${range}`,
    "  assumptions:",
    ...est.assumptions.map((a) => `    - ${a}`),
  ];
  return lines;
}
