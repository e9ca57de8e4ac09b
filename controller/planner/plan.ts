import { createHash } from "node:crypto";
import type { Connection } from "mysql2/promise";
import type { ExportSpec, SourceTls } from "../../config/export-spec.ts";
import type { KeyColumn, SourceKey, SourcePosition } from "../../config/records.ts";
import type { Clock } from "../../lib/clock.ts";
import type { NewExport, PlannedPartition } from "../../lib/jobs/job-store.ts";
import { column, describeTable, filterSql } from "../../lib/mysql/schema.ts";
import { recordedTls } from "../../lib/mysql/tls.ts";
import { type Boundaries, walkBoundaries } from "./boundaries.ts";
import { EXACT_WALK_MAX_ROWS, estimateBoundaries } from "./estimate.ts";
import { chooseKey } from "./key-discovery.ts";
import { singlePartitionScope } from "./small-scope.ts";
import { readSourcePosition } from "./source-position.ts";

export interface ExportPlan {
  keyColumns: KeyColumn[];
  keyIndex: string;
  lowKey: SourceKey | null;
  highWatermark: SourceKey | null;
  partitions: PlannedPartition[];
  /** Rows in the key space (within the filter): counted by the walk, or the optimizer's estimate when `estimated`. */
  rows: number;
  /** True when the boundaries came from range estimates (estimate.ts) and partition rows are estimates. */
  estimated: boolean;
  /** EXPLAIN range estimates and extent lookups spent on the histogram (0 for the walk). */
  probes: number;
  /** Rows of the first partition: the walk's step (targetRows, raised to respect maxPartitions), or its estimate. */
  step: number;
  dives: number;
  elapsedMs: number;
  /** source.tls as the record carries it to the nodes: the CA cut to the certificates of the server's chain. */
  sourceTls?: SourceTls;
  /** The source's binary log position and clock when planning began (before any row was read). */
  sourcePosition: SourcePosition;
}

export interface PlannerDeps {
  conn: Connection;
  clock: Clock;
  onProgress?: (boundaries: number, step: number) => void;
  /** Tables estimated at or under this many rows are walked exactly (default EXACT_WALK_MAX_ROWS; Infinity: always). */
  exactWalkMaxRows?: number;
  /**
   * Partitions that will be worked on at once (a local run's agent processes): smaller partitions than targetRows
   * so that each gets one from the start, instead of idling until the splitter cuts one (never below one chunk).
   */
  minPartitions?: number;
}

/**
 * Plans an export: validates every identifier of the spec against information_schema, chooses the key, and cuts
 * the key space into partitions of about partitioning.targetRows rows: from the optimizer's range estimates
 * (estimate.ts) for a large table with an integer leading key, else by walking the key's index (boundaries.ts); or
 * one partition without either when an indexed filter leaves at most targetRows rows (small-scope.ts).
 */
export async function planExport(spec: ExportSpec, deps: PlannerDeps): Promise<ExportPlan> {
  const started = deps.clock.now();
  const { database, table } = spec.source;
  const what = `planning ${database}.${table}`;
  // First, before any row is read: every chunk then reads at or after this position (the hand-off rule).
  const sourcePosition = await readSourcePosition(deps.conn, deps.clock);
  const info = await describeTable(deps.conn, database, table).catch((cause) => {
    throw cause instanceof Error && cause.name === "UserError" ? cause : new Error(`${what}: reading information_schema`, { cause });
  });
  for (const [i, c] of (spec.source.columns ?? []).entries()) column(info, c, `source.columns[${i}]`);
  const filter = filterSql(info, spec.source.filter);
  const key = chooseKey(info, spec.source.partitionKey);
  const { targetRows, maxPartitions } = spec.partitioning;
  // Start from the step the estimate asks for; the walk doubles it again if the estimate was low.
  let step = Math.max(targetRows, Math.ceil(info.estimatedRows / maxPartitions));
  if (deps.minPartitions && info.estimatedRows > 0) {
    step = Math.min(step, Math.max(spec.destination.chunk.maxRows, Math.ceil(info.estimatedRows / deps.minPartitions)));
  }
  const target = { database: info.database, table: info.table, index: key.index, columns: key.columns, filter };
  let walk: Boundaries;
  try {
    // A narrow filter (an incremental run's range) over at most one partition's rows: one partition, no walk.
    walk =
      (await singlePartitionScope(deps.conn, info, target, spec.source.filter, targetRows)) ??
      (await estimateBoundaries(deps.conn, target, {
        step,
        maxPartitions,
        exactWalkMaxRows: deps.exactWalkMaxRows ?? EXACT_WALK_MAX_ROWS,
      })) ??
      (await walkBoundaries(deps.conn, target, { step, maxPartitions, onProgress: deps.onProgress }));
  } catch (cause) {
    throw new Error(`${what}: finding partition boundaries on index ${key.index}`, { cause });
  }
  const n = walk.rows.length;
  const partitions: PlannedPartition[] =
    walk.highWatermark === null
      ? []
      : walk.rows.map((rows, i) => ({
          lo: i === 0 ? null : (walk.bounds[i - 1] as SourceKey),
          hi: i === n - 1 ? null : (walk.bounds[i] as SourceKey),
          estimatedRows: rows,
        }));
  return {
    keyColumns: key.columns,
    keyIndex: key.index,
    lowKey: walk.lowKey,
    highWatermark: walk.highWatermark,
    partitions,
    rows: walk.rows.reduce((a, b) => a + b, 0),
    estimated: walk.estimated === true,
    probes: walk.probes ?? 0,
    step: walk.rows.length > 1 ? (walk.rows[0] as number) : step,
    dives: walk.dives,
    elapsedMs: deps.clock.now() - started,
    ...(spec.source.tls ? { sourceTls: recordedTls(spec.source.tls, deps.conn) } : {}),
    sourcePosition,
  };
}

/**
 * The export id of a spec: its name and a digest of the validated spec (whose field order the schema fixes), so
 * planning the same spec again finds the same export instead of starting a second one.
 */
export function exportIdFor(spec: ExportSpec): string {
  return `${spec.name}-${createHash("sha256").update(JSON.stringify(spec)).digest("hex").slice(0, 8)}`;
}

/** The record of a plan. Its spec carries the CA's certificates themselves: nodes do not have the controller's caFile. */
export function toNewExport(exportId: string, spec: ExportSpec, plan: ExportPlan): NewExport {
  return {
    exportId,
    spec: plan.sourceTls ? { ...spec, source: { ...spec.source, tls: plan.sourceTls } } : spec,
    keyColumns: plan.keyColumns,
    keyIndex: plan.keyIndex,
    lowKey: plan.lowKey,
    highWatermark: plan.highWatermark,
    partitions: plan.partitions,
    sourcePosition: plan.sourcePosition,
  };
}
