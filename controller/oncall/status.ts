import type {
  EventRecord,
  ExportRecord,
  ExportState,
  NodeRecord,
  PartitionRecord,
  PartitionState,
  PoolRecord,
} from "../../config/records.ts";
import type { Clock } from "../../lib/clock.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import type { FleetStore, LeaderLease } from "../store/fleet-store.ts";
import type { ScheduleStore } from "../store/schedule-store.ts";
import { type Attention, findAttention } from "./attention.ts";
import { estimateExportCost, nodeCost, nodesOfExport, summarizeCost } from "./cost.ts";
import { type PartitionRate, rateFromLedger, readFleet, readPartitions, recentLedgers } from "./reads.ts";
import { readSchedules, type ScheduleStatus } from "./schedules.ts";
import { buildTimeline, type TimelineItem } from "./timeline.ts";

/**
 * The on-call read model: one snapshot of exports, pools, nodes and what needs a human, shared by `spotferry status`,
 * `exports`, `nodes`, `why` and the status page so they never disagree. Built from the state table alone.
 */

export interface OncallDeps {
  jobs: JobStore;
  fleet: FleetStore;
  clock: Clock;
  /** Incremental schedules to show (status only: a read limited to exportIds leaves them out). */
  schedules?: ScheduleStore;
}

export interface StatusOptions {
  /** A RUNNING export with unfinished work and no committed chunk for this long is "making no progress". */
  stallMinutes?: number;
  /** Agent liveness: a node that has shown no sign of life for this long while work waits is "not heartbeating". */
  heartbeatTimeoutSec?: number;
  /** Lease length agents use (partitionLease): a lease's expiry minus this is when its holder last heartbeated. */
  leaseSec?: number;
  /** Margin the reaper adds to lease expiry; an expired lease older than this is "expired, not reaped". */
  skewMarginSec?: number;
  /** Finished exports updated within this many hours are still shown (older ones only by `exports`). */
  recentHours?: number;
  /** Only these exports (every export when unset). */
  exportIds?: string[];
  /** Newest exports to consider. */
  limit?: number;
}

export type NodeLifecycle = NodeRecord["lifecycle"];

export const DEFAULTS = { stallMinutes: 15, heartbeatTimeoutSec: 90, leaseSec: 60, skewMarginSec: 10, recentHours: 24, limit: 50 };
type Settings = typeof DEFAULTS;

export const PARTITION_STATES: PartitionState[] = ["LEASED", "PENDING", "QUARANTINED", "DONE"];

export interface ExportStatus {
  exportId: string;
  state: ExportState;
  pool: string;
  source: string;
  createdAt: string;
  partitionCount: number;
  partitions: Record<PartitionState, number>;
  rows: number;
  estimatedRows: number;
  percent: number;
  /** Current throughput: the sum of its leased partitions' recent rates. */
  rowsPerSec: number;
  etaSeconds: number | null;
  etaAt: string | null;
  costUsd: number;
  /** Cost so far plus the export's running nodes' hourly price over the ETA (controller/oncall/cost.ts). */
  projectedCostUsd: number | null;
  /** Newest committed chunk or completed partition; null when nothing was ever committed. */
  lastProgressAt: string | null;
  error: string | null;
  /** Set while the spend cap holds the export for a human (controller/reconcilers/spend-cap.ts); absent otherwise. */
  costHold?: { spentUsd: number; projectedUsd: number; capUsd: number; at: string };
  /** Fraction done of each partition, by partition number (for histograms and charts). */
  fractions: number[];
  /** Completion times and rows of DONE partitions, oldest first (for the progress chart). */
  completions: [string, number][];
}

export interface PoolStatus {
  pool: string;
  generation: number;
  desiredSize: number;
  min: number;
  max: number;
  nodes: Record<NodeLifecycle, number>;
  spot: number;
  onDemand: number;
  /** Age of the oldest live node, seconds. */
  oldestNodeAgeSec: number | null;
  pendingPartitions: number;
  interruptions: number;
  replacements: number;
  costUsd: number;
  rotateRequestedAt: string | null;
}

export interface NodeStatus {
  instanceId: string;
  pool: string;
  generation: number;
  lifecycle: NodeLifecycle;
  instanceType: string;
  zone: string;
  market: "spot" | "on-demand";
  price: number;
  launchedAt: string;
  ageSec: number;
  /** Last sign of life: the controller's heartbeatAt, or later lease renewals of the partitions it holds. */
  lastSeenAt: string | null;
  heartbeatAgeSec: number | null;
  partitions: string[];
  rowsPerSec: number;
  exportId: string | null;
  reason: string | null;
  drainingAt: string | null;
  retiringAt: string | null;
  terminatedAt: string | null;
  costUsd: number;
}

export interface StatusSnapshot {
  now: string;
  leader: LeaderLease | null;
  attention: Attention[];
  exports: ExportStatus[];
  pools: PoolStatus[];
  nodes: NodeStatus[];
  /** Incremental schedules with their newest runs (empty when the state table holds none). */
  schedules: ScheduleStatus[];
  timeline: TimelineItem[];
}

/** Internal: what attention.ts and why.ts need beyond the snapshot. */
export interface StatusWorld {
  snapshot: StatusSnapshot;
  records: Map<string, ExportRecord>;
  partitions: Map<string, PartitionRecord[]>;
  rates: Map<string, PartitionRate>;
  /** The newest ledger events of each LEASED partition (newest first), as read for the rates; by partKey. */
  ledgers: Map<string, EventRecord[]>;
  poolRecords: PoolRecord[];
  nodeRecords: NodeRecord[];
  settings: Settings;
}

const LIVE: NodeLifecycle[] = ["LAUNCHING", "READY", "DRAINING"];
const finished = (s: ExportState) => s === "SUCCEEDED" || s === "FAILED" || s === "CANCELLED";
export const partKey = (exportId: string, n: number) => `${exportId}#${n}`;

/** Fraction of a partition done: DONE is 1, otherwise committed rows over the plan's estimate (capped below 1). */
export function fractionDone(p: PartitionRecord): number {
  if (p.state === "DONE") return 1;
  if (p.estimatedRows <= 0) return 0;
  return Math.min(0.999, p.rows / p.estimatedRows);
}

export async function readStatus(deps: OncallDeps, options: StatusOptions = {}): Promise<StatusWorld> {
  const settings: Settings = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  const now = deps.clock.now();
  const listed = options.exportIds
    ? (await Promise.all(options.exportIds.map((id) => deps.jobs.getExport(id)))).filter((e): e is ExportRecord => e !== null)
    : await deps.jobs.listExports({ limit: settings.limit });
  const shown = listed.filter(
    (e) => options.exportIds || !finished(e.state) || now - Date.parse(e.updatedAt) < settings.recentHours * 3_600_000,
  );
  const [{ pools, nodes }, leader, schedules, partLists] = await Promise.all([
    readFleet(deps.fleet),
    deps.fleet.getLeader(),
    deps.schedules && !options.exportIds ? readSchedules(deps.schedules) : Promise.resolve([]),
    // A SUCCEEDED export's figures are on its record; every other one is summed from its partitions.
    Promise.all(shown.map((e) => (e.state === "SUCCEEDED" ? Promise.resolve(null) : readPartitions(deps.jobs, e)))),
  ]);
  const partitions = new Map<string, PartitionRecord[]>();
  shown.forEach((e, i) => {
    const list = partLists[i];
    if (list) partitions.set(e.exportId, list);
  });
  const leased = [...partitions.values()].flat().filter((p) => p.state === "LEASED");
  const ledgerList = await recentLedgers(deps.jobs, leased);
  const ledgers = new Map(leased.map((p, i) => [partKey(p.exportId, p.partition), ledgerList[i] ?? []]));
  const rates = new Map(leased.map((p, i) => [partKey(p.exportId, p.partition), rateFromLedger(p, ledgerList[i] ?? [], now)]));

  const nodeStatus = nodes.map((n) => nodeView(n, leased, rates, now, settings)).sort(nodeOrder);
  const poolStatus = pools.map((p) => poolView(p, nodes, partitions, shown, now));
  const exportStatus = shown.map((e) => exportView(e, partitions.get(e.exportId) ?? null, rates, nodes, now));
  const snapshot: StatusSnapshot = {
    now: new Date(now).toISOString(),
    leader,
    attention: [],
    exports: exportStatus,
    pools: poolStatus,
    nodes: nodeStatus,
    schedules,
    timeline: buildTimeline(pools, nodes),
  };
  const world: StatusWorld = {
    snapshot,
    records: new Map(shown.map((e) => [e.exportId, e])),
    partitions,
    rates,
    ledgers,
    poolRecords: pools,
    nodeRecords: nodes,
    settings,
  };
  snapshot.attention = findAttention(world, now);
  return world;
}

const lifecycleRank: Record<NodeLifecycle, number> = { READY: 0, LAUNCHING: 1, DRAINING: 2, INTERRUPTED: 3, TERMINATED: 4 };
const nodeOrder = (a: NodeStatus, b: NodeStatus) =>
  a.pool.localeCompare(b.pool) || lifecycleRank[a.lifecycle] - lifecycleRank[b.lifecycle] || a.instanceId.localeCompare(b.instanceId);

function nodeView(n: NodeRecord, leased: PartitionRecord[], rates: Map<string, PartitionRate>, now: number, s: Settings): NodeStatus {
  const held = leased
    .filter((p) => p.owner === n.instanceId)
    .sort((a, b) => a.exportId.localeCompare(b.exportId) || a.partition - b.partition);
  // The agent renews its leases; the controller copies that into heartbeatAt only now and then, so take the later.
  const seen =
    [
      n.heartbeatAt,
      ...held.map((p) => (p.leaseExpiresAt ? new Date(Date.parse(p.leaseExpiresAt) - s.leaseSec * 1000).toISOString() : null)),
    ]
      .filter((x): x is string => x !== null)
      .sort()
      .at(-1) ?? null;
  const end = n.terminatedAt ? Date.parse(n.terminatedAt) : now;
  const price = n.price;
  return {
    instanceId: n.instanceId,
    pool: n.pool,
    generation: n.generation,
    lifecycle: n.lifecycle,
    instanceType: n.instanceType,
    zone: n.zone,
    market: n.market,
    price,
    launchedAt: n.launchedAt,
    ageSec: (end - Date.parse(n.launchedAt)) / 1000,
    lastSeenAt: seen,
    heartbeatAgeSec: seen ? (now - Date.parse(seen)) / 1000 : null,
    partitions: held.length ? held.map((p) => `${p.exportId}/${p.partition}`) : n.currentPartition ? [n.currentPartition] : [],
    rowsPerSec: held.reduce((sum, p) => sum + (rates.get(partKey(p.exportId, p.partition))?.rowsPerSec ?? 0), 0),
    exportId: n.exportId,
    reason: n.reason,
    drainingAt: n.drainingAt,
    retiringAt: n.retiringAt,
    terminatedAt: n.terminatedAt,
    costUsd: nodeCost(n, now),
  };
}

function poolView(
  p: PoolRecord,
  nodes: NodeRecord[],
  partitions: Map<string, PartitionRecord[]>,
  exps: ExportRecord[],
  now: number,
): PoolStatus {
  const mine = nodes.filter((n) => n.pool === p.pool);
  const live = mine.filter((n) => LIVE.includes(n.lifecycle));
  const counts = { LAUNCHING: 0, READY: 0, DRAINING: 0, INTERRUPTED: 0, TERMINATED: 0 } as Record<NodeLifecycle, number>;
  for (const n of mine) counts[n.lifecycle]++;
  const oldest = live.map((n) => Date.parse(n.launchedAt)).sort((a, b) => a - b)[0];
  const pending = exps
    .filter((e) => e.spec.pool === p.pool && e.state === "RUNNING")
    .reduce((sum, e) => sum + (partitions.get(e.exportId) ?? []).filter((x) => x.state === "PENDING").length, 0);
  return {
    pool: p.pool,
    generation: p.generation,
    desiredSize: p.desiredSize,
    min: p.spec.capacity.min,
    max: p.spec.capacity.max,
    nodes: counts,
    spot: live.filter((n) => n.market === "spot").length,
    onDemand: live.filter((n) => n.market === "on-demand").length,
    oldestNodeAgeSec: oldest === undefined ? null : (now - oldest) / 1000,
    pendingPartitions: pending,
    interruptions: p.interruptions,
    replacements: p.replacements,
    costUsd: summarizeCost(mine, now).costSoFar,
    rotateRequestedAt: p.rotateRequestedAt,
  };
}

/** The fields of an ExportStatus known from the record alone. */
type ExportHeader = Pick<
  ExportStatus,
  "exportId" | "state" | "pool" | "source" | "createdAt" | "partitionCount" | "costUsd" | "error" | "costHold"
>;

function exportView(
  e: ExportRecord,
  parts: PartitionRecord[] | null,
  rates: Map<string, PartitionRate>,
  nodes: NodeRecord[],
  now: number,
): ExportStatus {
  // Cost model and its limits: controller/oncall/cost.ts (price at launch x running time, nodes launched for the export).
  const mine = nodesOfExport(nodes, e.exportId);
  const costUsd = summarizeCost(mine, now).costSoFar;
  const base: ExportHeader = {
    exportId: e.exportId,
    state: e.state,
    pool: e.spec.pool,
    source: `${e.spec.source.database}.${e.spec.source.table}`,
    createdAt: e.createdAt,
    partitionCount: e.partitionCount,
    costUsd,
    error: e.error ?? null,
    ...(e.costHold ? { costHold: e.costHold } : {}),
  };
  if (!parts) return succeededExportView(e, base);
  const t = partitionTotals(parts, rates);
  const remaining = Math.max(0, t.est - t.doneEst);
  const active = e.state === "RUNNING" || e.state === "PLANNING";
  const etaSeconds = active && remaining > 0 && t.rowsPerSec > 0 ? remaining / t.rowsPerSec : active && remaining === 0 ? 0 : null;
  const projection = estimateExportCost({
    exportId: e.exportId,
    nodes: mine,
    rowsDone: Math.min(t.est, t.doneEst),
    rowsTotal: t.est,
    now,
    rowsPerSecond: t.rowsPerSec,
    startedAt: Date.parse(e.createdAt),
    finished: !active,
  });
  return {
    ...base,
    partitions: t.counts,
    rows: t.rows,
    estimatedRows: t.est,
    percent: t.est > 0 ? (100 * t.doneEst) / t.est : t.counts.DONE === parts.length ? 100 : 0,
    rowsPerSec: t.rowsPerSec,
    etaSeconds,
    etaAt: etaSeconds === null ? null : new Date(now + etaSeconds * 1000).toISOString(),
    projectedCostUsd: projection.projectedTotal,
    lastProgressAt: t.last,
    fractions: t.fractions,
    completions: t.completions,
  };
}

/** A SUCCEEDED export read without its partitions: its figures are the record's. */
function succeededExportView(e: ExportRecord, base: ExportHeader): ExportStatus {
  const counts = { LEASED: 0, PENDING: 0, QUARANTINED: 0, DONE: 0 } as Record<PartitionState, number>;
  counts.DONE = e.partitionCount;
  return {
    ...base,
    partitions: counts,
    rows: e.rowsExported,
    estimatedRows: e.estimatedRows,
    percent: 100,
    rowsPerSec: 0,
    etaSeconds: null,
    etaAt: null,
    projectedCostUsd: base.costUsd,
    lastProgressAt: e.updatedAt,
    error: base.error,
    fractions: [],
    completions: [],
  };
}

/** One pass over an export's partitions: counts by state, rows, estimates, current rate and the newest progress. */
function partitionTotals(parts: PartitionRecord[], rates: Map<string, PartitionRate>) {
  const counts = { LEASED: 0, PENDING: 0, QUARANTINED: 0, DONE: 0 } as Record<PartitionState, number>;
  let rows = 0;
  let est = 0;
  let doneEst = 0;
  let rowsPerSec = 0;
  let last: string | null = null;
  const completions: [string, number][] = [];
  const fractions = parts.map((p) => {
    counts[p.state]++;
    rows += p.rows;
    est += p.estimatedRows;
    const f = fractionDone(p);
    doneEst += f * p.estimatedRows;
    if (p.state === "DONE") {
      completions.push([p.updatedAt, p.rows]);
      if (!last || p.updatedAt > last) last = p.updatedAt;
    }
    const r = rates.get(partKey(p.exportId, p.partition));
    if (r) {
      rowsPerSec += r.rowsPerSec;
      if (r.lastCheckpointAt && (!last || r.lastCheckpointAt > last)) last = r.lastCheckpointAt;
    }
    return f;
  });
  completions.sort((a, b) => a[0].localeCompare(b[0]));
  return { counts, rows, est, doneEst, rowsPerSec, last: last as string | null, fractions, completions };
}
