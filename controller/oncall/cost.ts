import type { ExportRecord, NodeRecord } from "../../config/records.ts";
import type { Clock } from "../../lib/clock.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import type { FleetStore } from "../store/fleet-store.ts";

/**
 * Cost accounting, for the CLI (`status`, `exports`, `nodes`), the metrics reconciler and the rehearsal report.
 * Pure functions over the records already in the state table, plus one reader (`exportCost`) for callers that
 * have only a store.
 *
 * Model and its limits (say so wherever the figures are shown):
 * - A node costs its price at launch (NodeRecord.price, USD/hour: the spot price of its type and zone when it was
 *   launched, or the on-demand price) times its running time, from launchedAt to terminatedAt (or now while it has
 *   none). Spot price changes during a node's life are not followed; per-second billing, no minimum charge.
 * - A node's cost belongs to the export it was launched for (NodeRecord.exportId, also its spotferry:export tag),
 *   even if it later works on another export of the same pool. Nodes launched with no export (none was running)
 *   belong to their pool only.
 * - Projection: cost so far plus the hourly burn of the nodes still running times the time to finish, which is
 *   rows remaining / rows per second. Rows remaining come from the plan's exact row count.
 */

/** Milliseconds a node has been running (billed): launch to termination, or to `now` while not terminated. */
export function nodeRunningMs(n: NodeRecord, now: number): number {
  const start = Date.parse(n.launchedAt);
  const end = n.terminatedAt ? Date.parse(n.terminatedAt) : now;
  return Number.isNaN(start) ? 0 : Math.max(0, end - start);
}

/** USD a node has cost so far: price at launch times running time. */
export function nodeCost(n: NodeRecord, now: number): number {
  return (n.price * nodeRunningMs(n, now)) / 3_600_000;
}

/** True while a node is still billed (no termination recorded). */
export const isBilled = (n: NodeRecord) => n.terminatedAt === null && n.lifecycle !== "TERMINATED";

export interface CostSummary {
  /** Node records counted (terminated ones included). */
  nodes: number;
  /** Of those, nodes still billed. */
  billedNodes: number;
  nodeHours: number;
  /** USD so far. */
  costSoFar: number;
  /** USD per hour of the nodes still billed. */
  burnPerHour: number;
  /** costSoFar split by market. */
  byMarket: { spot: number; onDemand: number };
  /** Nodes priced at 0 (on-demand type with no known price): the figures understate by their share. */
  unpriced: number;
}

/** Sums the cost of a set of nodes (a pool, or an export's nodes) at `now`. */
export function summarizeCost(nodes: readonly NodeRecord[], now: number): CostSummary {
  const s: CostSummary = {
    nodes: 0,
    billedNodes: 0,
    nodeHours: 0,
    costSoFar: 0,
    burnPerHour: 0,
    byMarket: { spot: 0, onDemand: 0 },
    unpriced: 0,
  };
  for (const n of nodes) {
    const c = nodeCost(n, now);
    s.nodes++;
    s.nodeHours += nodeRunningMs(n, now) / 3_600_000;
    s.costSoFar += c;
    if (n.market === "spot") s.byMarket.spot += c;
    else s.byMarket.onDemand += c;
    if (n.price === 0) s.unpriced++;
    if (isBilled(n)) {
      s.billedNodes++;
      s.burnPerHour += n.price;
    }
  }
  return s;
}

/** The nodes whose cost belongs to `exportId`. */
export const nodesOfExport = (nodes: readonly NodeRecord[], exportId: string) => nodes.filter((n) => n.exportId === exportId);

export interface ExportCostEstimate extends CostSummary {
  exportId: string;
  rowsDone: number;
  /** Rows in the export's key space (exact at plan time). */
  rowsTotal: number;
  /** The rate used for the projection; null when nothing was exported yet. */
  rowsPerSecond: number | null;
  /** Seconds to finish at that rate; 0 when done, null when unknown. */
  etaSeconds: number | null;
  /** costSoFar + burnPerHour x time to finish; equals costSoFar when done, null when unknown. */
  projectedTotal: number | null;
}

export interface ExportCostInput {
  exportId: string;
  /** The export's nodes (see nodesOfExport). */
  nodes: readonly NodeRecord[];
  rowsDone: number;
  rowsTotal: number;
  now: number;
  /**
   * Current export rate (e.g. sampled over the last minute). Default: the average since the export's first node was
   * launched (or since `startedAt`), which is steady but slow to follow a fleet that grew or shrank.
   */
  rowsPerSecond?: number | null;
  /** Start of the average-rate window when no node has launched yet (the export's createdAt). */
  startedAt?: number;
  /** True once the export is SUCCEEDED/FAILED/CANCELLED: no projection beyond what was spent. */
  finished?: boolean;
}

/** Cost so far and projected total of one export. */
export function estimateExportCost(input: ExportCostInput): ExportCostEstimate {
  const summary = summarizeCost(input.nodes, input.now);
  const remaining = Math.max(0, input.rowsTotal - input.rowsDone);
  let rate = input.rowsPerSecond ?? null;
  if (rate === null) {
    const launches = input.nodes.map((n) => Date.parse(n.launchedAt)).filter((t) => !Number.isNaN(t));
    const start = launches.length ? Math.min(...launches) : input.startedAt;
    if (start !== undefined && input.now > start && input.rowsDone > 0) rate = input.rowsDone / ((input.now - start) / 1000);
  }
  if (rate !== null && !(rate > 0)) rate = null;
  let eta: number | null = null;
  if (input.finished || remaining === 0) eta = 0;
  else if (rate !== null) eta = remaining / rate;
  const projected = eta === null ? null : summary.costSoFar + (input.finished ? 0 : (summary.burnPerHour * eta) / 3600);
  return {
    ...summary,
    exportId: input.exportId,
    rowsDone: input.rowsDone,
    rowsTotal: input.rowsTotal,
    rowsPerSecond: rate,
    etaSeconds: eta,
    projectedTotal: projected,
  };
}

const FINISHED: ReadonlySet<ExportRecord["state"]> = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

/**
 * Reads what `estimateExportCost` needs from the stores: the export, its progress and the node records of its pool.
 * Throws when the export does not exist. Cost: one export read, one progress query, one node listing.
 */
export async function exportCost(
  deps: { jobs: JobStore; fleet: FleetStore; clock: Clock },
  exportId: string,
  options: { rowsPerSecond?: number | null } = {},
): Promise<ExportCostEstimate> {
  const record = await deps.jobs.getExport(exportId);
  if (!record) throw new Error(`estimating the cost of export ${exportId}: export not found`);
  const [progress, nodes] = await Promise.all([deps.jobs.progress(exportId), deps.fleet.listNodes(record.spec.pool)]);
  const finished = FINISHED.has(record.state);
  return estimateExportCost({
    exportId,
    nodes: nodesOfExport(nodes, exportId),
    rowsDone: finished && record.state === "SUCCEEDED" ? record.rowsExported : progress.total.rows,
    rowsTotal: record.estimatedRows,
    now: deps.clock.now(),
    rowsPerSecond: options.rowsPerSecond,
    startedAt: Date.parse(record.createdAt),
    finished,
  });
}

/** USD for display: cents below 100, whole dollars above; "?" when unknown. */
export function formatUsd(usd: number | null): string {
  if (usd === null || !Number.isFinite(usd)) return "?";
  return usd < 100 ? `$${usd.toFixed(usd < 1 ? 4 : 2)}` : `$${Math.round(usd).toLocaleString("en-US")}`;
}
