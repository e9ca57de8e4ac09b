import type { ExportState, NodeRecord, PartitionState } from "../../config/records.ts";
import { type ExportCostEstimate, estimateExportCost, formatUsd, nodesOfExport } from "../../controller/oncall/cost.ts";
import type { FleetStore } from "../../controller/store/fleet-store.ts";
import type { Clock } from "../../lib/clock.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";

/** One look at a running export, as the on-call would see it: what the state table says, nothing in memory. */
export interface ProgressSnapshot {
  at: number;
  elapsedMs: number;
  state: ExportState;
  rows: number;
  rowsTotal: number;
  partitions: Record<PartitionState, number>;
  nodes: { live: number; booting: number; draining: number; interrupted: number; terminated: number; generation: number };
  /** Rows per second over the last `windowMs` (null until two samples exist). */
  rowsPerSecond: number | null;
  cost: ExportCostEstimate;
  /** Interruptions and replacements the controller has counted for the pool. */
  interruptions: number;
  replacements: number;
}

/**
 * Samples progress from the stores. The rate is taken over a sliding window (default 15 s) so the ETA follows the
 * fleet as it shrinks and grows, rather than a lifetime average.
 */
export class ProgressSampler {
  private readonly deps: { jobs: JobStore; fleet: FleetStore; clock: Clock };
  private readonly exportId: string;
  private readonly pool: string;
  private readonly startedAt: number;
  private readonly windowMs: number;
  private readonly samples: { at: number; rows: number }[] = [];

  constructor(
    deps: { jobs: JobStore; fleet: FleetStore; clock: Clock },
    exportId: string,
    pool: string,
    startedAt: number,
    windowMs = 15_000,
  ) {
    this.deps = deps;
    this.exportId = exportId;
    this.pool = pool;
    this.startedAt = startedAt;
    this.windowMs = windowMs;
  }

  async sample(): Promise<ProgressSnapshot> {
    const now = this.deps.clock.now();
    const [record, progress, nodes, pool] = await Promise.all([
      this.deps.jobs.getExport(this.exportId),
      this.deps.jobs.progress(this.exportId),
      this.deps.fleet.listNodes(this.pool),
      this.deps.fleet.getPool(this.pool),
    ]);
    if (!record) throw new Error(`sampling the progress of export ${this.exportId}: export not found`);
    const rows = progress.total.rows;
    this.samples.push({ at: now, rows });
    while (this.samples.length > 2 && now - (this.samples[1]?.at ?? now) >= this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const rate = now > first.at && this.samples.length > 1 ? (rows - first.rows) / ((now - first.at) / 1000) : null;
    const done = record.state === "SUCCEEDED" || record.state === "FAILED" || record.state === "CANCELLED";
    const count = (f: (n: NodeRecord) => boolean) => nodes.filter(f).length;
    return {
      at: now,
      elapsedMs: now - this.startedAt,
      state: record.state,
      rows,
      rowsTotal: record.estimatedRows,
      partitions: {
        PENDING: progress.byState.PENDING.partitions,
        LEASED: progress.byState.LEASED.partitions,
        DONE: progress.byState.DONE.partitions,
        QUARANTINED: progress.byState.QUARANTINED.partitions,
      },
      nodes: {
        live: count((n) => n.lifecycle === "READY"),
        booting: count((n) => n.lifecycle === "LAUNCHING"),
        draining: count((n) => n.lifecycle === "DRAINING"),
        interrupted: count((n) => n.lifecycle === "INTERRUPTED"),
        terminated: count((n) => n.lifecycle === "TERMINATED"),
        generation: pool?.generation ?? 0,
      },
      rowsPerSecond: rate,
      cost: estimateExportCost({
        exportId: this.exportId,
        nodes: nodesOfExport(nodes, this.exportId),
        rowsDone: rows,
        rowsTotal: record.estimatedRows,
        now,
        rowsPerSecond: rate && rate > 0 ? rate : null,
        startedAt: this.startedAt,
        finished: done,
      }),
      interruptions: pool?.interruptions ?? 0,
      replacements: pool?.replacements ?? 0,
    };
  }
}

const n = (v: number) => v.toLocaleString("en-US");
const secs = (s: number | null) =>
  s === null ? "?" : s >= 90 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${Math.round(s)}s`;

/** One status line: `42% 840,000/2,000,000 rows | parts 3 pend 4 run 13 done | nodes 4 up 1 boot ... | 52k rows/s | $0.0031 -> $0.0070 | ETA 22s`. */
export function progressLine(s: ProgressSnapshot): string {
  const pct = s.rowsTotal > 0 ? Math.floor((100 * s.rows) / s.rowsTotal) : 100;
  const p = s.partitions;
  const nd = s.nodes;
  const nodes = [
    `${nd.live} up`,
    nd.booting ? `${nd.booting} booting` : "",
    nd.draining ? `${nd.draining} draining` : "",
    nd.interrupted ? `${nd.interrupted} interrupted` : "",
  ]
    .filter(Boolean)
    .join(" ");
  const rate = s.rowsPerSecond === null ? "? rows/s" : `${n(Math.round(s.rowsPerSecond))} rows/s`;
  return [
    `${secs(s.elapsedMs / 1000)} ${s.state} ${pct}% ${n(s.rows)}/${n(s.rowsTotal)} rows`,
    `partitions ${p.PENDING} pending ${p.LEASED} running ${p.DONE} done${p.QUARANTINED ? ` ${p.QUARANTINED} QUARANTINED` : ""}`,
    `nodes ${nodes} (gen ${nd.generation}, ${s.interruptions} interrupted so far)`,
    rate,
    `cost ${formatUsd(s.cost.costSoFar)} -> ${formatUsd(s.cost.projectedTotal)}`,
    `ETA ${secs(s.cost.etaSeconds)}`,
  ].join(" | ");
}
