import type { Connection } from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { KeyColumn, NodeRecord } from "../../config/records.ts";
import type { Clock } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import type { CloudProvider } from "../cloud/cloud-provider.ts";
import type { FleetStore } from "../store/fleet-store.ts";
import { buildEstimate, type ExportEstimate, type PoolPricing } from "./estimate.ts";
import { poolPricing } from "./prices.ts";
import { historyThroughput, probeThroughput } from "./throughput.ts";

export { buildEstimate, describeEstimate, type ExportEstimate, formatDuration } from "./estimate.ts";

/** Launch to a working agent when the pool has no booted node on record: EC2 boot plus the user-data's fetches. */
export const DEFAULT_BOOT_SECONDS = 90;

export interface EstimateDeps {
  jobs: JobStore;
  fleet: FleetStore;
  /** Prices come from it (EC2 in production, the sim locally); null: no cost. */
  cloud: CloudProvider | null;
  clock: Clock;
  /** A source connection for the probe, used only when there is no history. */
  conn?: Connection;
}

export interface EstimateRequest {
  exportId: string;
  spec: ExportSpec;
  keyIndex: string;
  keyColumns: KeyColumn[];
  rows: number;
  partitions: number;
  /** Overrides the boot time read from the pool's nodes (DEFAULT_BOOT_SECONDS without any). */
  bootSeconds?: number;
}

/** Median launch-to-READY of the pool's nodes on record, seconds; null when none booted. */
function bootOf(nodes: readonly NodeRecord[]): number | null {
  const boots = nodes
    .filter((n) => n.readyAt)
    .map((n) => (Date.parse(n.readyAt as string) - Date.parse(n.launchedAt)) / 1000)
    .filter((s) => Number.isFinite(s) && s >= 0)
    .sort((a, b) => a - b);
  return boots.length ? (boots[Math.floor(boots.length / 2)] as number) : null;
}

/**
 * The plan-time estimate of an export (estimate.ts has the model): the pool from the state table, throughput from
 * history or a probe, prices from the cloud now. Reads only; a pool that was never applied gives partitions alone.
 */
export async function estimateExport(deps: EstimateDeps, req: EstimateRequest): Promise<ExportEstimate> {
  const pool = await deps.fleet.getPool(req.spec.pool);
  const k = pool?.spec.capacity.partitionsPerNode ?? 1;
  const record = { exportId: req.exportId, spec: req.spec, keyIndex: req.keyIndex, keyColumns: req.keyColumns };
  let throughput = pool ? await historyThroughput(deps, { record, partitionsPerNode: k }) : null;
  if (pool && !throughput && deps.conn && req.rows > 0) throughput = await probeThroughput(deps.conn, { record, clock: deps.clock });
  let pricing: PoolPricing | null = null;
  if (pool && deps.cloud) {
    // Prices inform; they must not stop a plan (an account without ec2:DescribeSpotPriceHistory still plans).
    pricing = await poolPricing(deps.cloud, pool.spec).catch((err) => ({
      market: "spot" as const,
      median: null,
      low: null,
      high: null,
      pairs: 0,
      detail: `prices could not be read (${describeError(err)}): no cost`,
    }));
  }
  const nodes = pool ? await deps.fleet.listNodes(pool.pool) : [];
  return buildEstimate({
    exportId: req.exportId,
    rows: req.rows,
    partitions: req.partitions,
    pool: pool && { name: pool.pool, min: pool.spec.capacity.min, max: pool.spec.capacity.max, partitionsPerNode: k },
    throughput,
    pricing,
    maxRowsPerSecond: req.spec.source.maxRowsPerSecond,
    bootSeconds: req.bootSeconds ?? bootOf(nodes) ?? DEFAULT_BOOT_SECONDS,
  });
}
