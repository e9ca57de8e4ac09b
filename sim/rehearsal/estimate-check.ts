import type { ExportSpec } from "../../config/export-spec.ts";
import type { ExportRecord } from "../../config/records.ts";
import type { CloudProvider } from "../../controller/cloud/cloud-provider.ts";
import { type ExportEstimate, estimateExport, formatDuration } from "../../controller/estimate/index.ts";
import { formatUsd } from "../../controller/oncall/cost.ts";
import type { FleetStore } from "../../controller/store/fleet-store.ts";
import type { Clock } from "../../lib/clock.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { openSource } from "../../lib/mysql/connect.ts";

/**
 * The plan-time estimate of the rehearsal's export (what `export plan` prints: controller/estimate/), made before the
 * controller starts, and its comparison with what the run measured. The sim boots a node in seconds, not EC2's
 * minute and a half, so the boot assumed is SIM_BOOT_SECONDS (the figure the estimate prints with its assumptions).
 */
export const SIM_BOOT_SECONDS = 15;
/** How far the estimate may be from the actual, either way, before the rehearsal's test fails. */
export const ESTIMATE_TOLERANCE = 2;

export async function rehearsalEstimate(
  deps: { jobs: JobStore; fleet: FleetStore; cloud: CloudProvider; clock: Clock; env: Record<string, string | undefined> },
  o: { spec: ExportSpec; record: ExportRecord; plannedFaults: number },
): Promise<ExportEstimate> {
  return withPlannedFaults(await planEstimate(deps, o), o.plannedFaults);
}

/**
 * The faults the rehearsal plans (notices and kills, known before it starts; the hazard's are not) each cost one
 * slot a replacement's boot: the partition waits for the node launched in its place. A real plan knows of none.
 */
export function withPlannedFaults(est: ExportEstimate, faults: number): ExportEstimate {
  if (faults === 0 || est.durationSeconds === null || !est.slots || !est.nodes) return est;
  const extra = (faults * SIM_BOOT_SECONDS) / est.slots;
  const durationSeconds = est.durationSeconds + extra;
  const scale = durationSeconds / est.durationSeconds;
  const times = (v: number | null) => (v === null ? null : v * scale);
  return {
    ...est,
    durationSeconds,
    nodeHours: times(est.nodeHours),
    costUsd: times(est.costUsd),
    costLowUsd: times(est.costLowUsd),
    costHighUsd: times(est.costHighUsd),
    assumptions: [
      ...est.assumptions,
      `rehearsal: ${faults} planned faults, each a replacement's boot of one of ${est.slots} slots (+${Math.round(extra)} s)`,
    ],
  };
}

async function planEstimate(
  deps: Parameters<typeof rehearsalEstimate>[0],
  o: { spec: ExportSpec; record: ExportRecord },
): Promise<ExportEstimate> {
  const conn = await openSource(o.spec.source, deps.env);
  try {
    return await estimateExport(
      { jobs: deps.jobs, fleet: deps.fleet, cloud: deps.cloud, clock: deps.clock, conn },
      {
        exportId: o.record.exportId,
        spec: o.spec,
        keyIndex: o.record.keyIndex,
        keyColumns: o.record.keyColumns,
        rows: o.record.estimatedRows,
        partitions: o.record.partitionCount,
        bootSeconds: SIM_BOOT_SECONDS,
      },
    );
  } finally {
    await conn.end().catch(() => {});
  }
}

export interface Figures {
  durationSeconds: number | null;
  nodeHours: number | null;
  costUsd: number | null;
}

export interface EstimateComparison {
  estimate: Figures & { source: string | null; assumptions: string[] };
  actual: Figures;
  /** estimate / actual per figure; null when either is unknown. */
  ratio: Figures;
  /** Every ratio known and within [1/ESTIMATE_TOLERANCE, ESTIMATE_TOLERANCE]. */
  withinTolerance: boolean;
}

export function compareEstimate(est: ExportEstimate, actual: Figures): EstimateComparison {
  const r = (e: number | null, a: number | null) => (e === null || a === null || a <= 0 ? null : e / a);
  const ratio = {
    durationSeconds: r(est.durationSeconds, actual.durationSeconds),
    nodeHours: r(est.nodeHours, actual.nodeHours),
    costUsd: r(est.costUsd, actual.costUsd),
  };
  const ok = (x: number | null) => x !== null && x >= 1 / ESTIMATE_TOLERANCE && x <= ESTIMATE_TOLERANCE;
  return {
    estimate: {
      durationSeconds: est.durationSeconds,
      nodeHours: est.nodeHours,
      costUsd: est.costUsd,
      source: est.throughputSource,
      assumptions: est.assumptions,
    },
    actual,
    ratio,
    withinTolerance: ok(ratio.durationSeconds) && ok(ratio.nodeHours) && ok(ratio.costUsd),
  };
}

/** The report's lines: estimate next to actual, with the ratio. */
export function estimateLines(c: EstimateComparison): string[] {
  const x = (v: number | null) => (v === null ? "?" : `${v.toFixed(2)}x`);
  const h = (v: number | null) => (v === null ? "?" : v.toFixed(3));
  return [
    `  estimate        at plan time (${c.estimate.source ?? "no"} throughput) vs actual: ${c.withinTolerance ? "within" : "NOT within"} ${ESTIMATE_TOLERANCE}x`,
    `                  time ${formatDuration(c.estimate.durationSeconds)} vs ${formatDuration(c.actual.durationSeconds)} (${x(c.ratio.durationSeconds)}), node-hours ${h(c.estimate.nodeHours)} vs ${h(c.actual.nodeHours)} (${x(c.ratio.nodeHours)}), cost ${formatUsd(c.estimate.costUsd)} vs ${formatUsd(c.actual.costUsd)} (${x(c.ratio.costUsd)})`,
  ];
}
