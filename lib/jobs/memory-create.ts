import { type ExportRecord, exportRecord, type PartitionRecord, type SourceKey } from "../../config/records.ts";
import { digest, MAX_PARTITION } from "../dynamo/keys.ts";
import {
  type CreateExportResult,
  ExportConflictError,
  type ExportStateChange,
  ExportStateError,
  type NewExport,
  NotFoundError,
} from "./job-store.ts";
import {
  copy,
  deletePartition,
  type MemoryContext,
  nowIso,
  partitionOf,
  partitionsOf,
  putPartition,
  queueEntry,
  type StoredExport,
  type StoredPartition,
  setEntry,
} from "./memory-table.ts";

/**
 * Plans, in the steps of dynamo-create.ts: header PLANNING and unqueued partitions, then RUNNING (the commit point),
 * then every partition queued. Here the steps cannot be interrupted half way, but a header some other path left in
 * PLANNING (setExportState can put it there) is completed or replaced exactly as DynamoDB's crashed create would be.
 */
export async function createExport(ctx: MemoryContext, input: NewExport): Promise<CreateExportResult> {
  const id = input.exportId;
  if (input.partitions.length > MAX_PARTITION) {
    throw new Error(`creating export ${id}: ${input.partitions.length} partitions is too many`);
  }
  const fresh = header(ctx, input);
  const existing = ctx.table.exports.get(id);
  if (existing && existing.specHash !== fresh.specHash) throw new ExportConflictError(id);
  if (existing && existing.record.state !== "PLANNING") {
    if (!existing.record.queued) enqueueAll(ctx, id);
    return { export: exportOut(existing), created: false, planDiffers: existing.record.planHash !== fresh.record.planHash };
  }
  if (existing && existing.record.planHash !== fresh.record.planHash) replacePlan(ctx, existing, fresh);
  if (!existing) ctx.table.exports.set(id, fresh);
  writePartitions(ctx, input, fresh.record.planHash);
  const stored = ctx.table.exports.get(id) as StoredExport;
  Object.assign(stored.record, { state: "RUNNING", updatedAt: nowIso(ctx) });
  enqueueAll(ctx, id);
  return { export: exportOut(stored), created: true, planDiffers: false };
}

function header(ctx: MemoryContext, input: NewExport): StoredExport {
  const now = nowIso(ctx);
  const planHash = digest({
    keyColumns: input.keyColumns,
    keyIndex: input.keyIndex,
    lowKey: input.lowKey,
    highWatermark: input.highWatermark,
    partitions: input.partitions,
  });
  const record: ExportRecord = copy({
    exportId: input.exportId,
    spec: input.spec,
    state: "PLANNING",
    keyColumns: input.keyColumns,
    lowKey: input.lowKey,
    highWatermark: input.highWatermark,
    partitionCount: input.partitions.length,
    estimatedRows: input.partitions.reduce((s, p) => s + p.estimatedRows, 0),
    rowsExported: 0,
    bytesExported: 0,
    keyIndex: input.keyIndex,
    planHash,
    queued: false,
    createdAt: now,
    updatedAt: now,
    ...(input.sourcePosition ? { sourcePosition: input.sourcePosition } : {}),
  });
  return { record, specHash: digest(input.spec) };
}

/** A PLANNING header of another plan: the new plan's fields, and the old plan's never-claimed partitions deleted. */
function replacePlan(ctx: MemoryContext, existing: StoredExport, fresh: StoredExport): void {
  const oldHash = existing.record.planHash;
  const { planHash, keyColumns, keyIndex, lowKey, highWatermark, partitionCount, estimatedRows, updatedAt } = fresh.record;
  Object.assign(existing.record, { planHash, keyColumns, keyIndex, lowKey, highWatermark, partitionCount, estimatedRows, updatedAt });
  for (const p of partitionsOf(ctx, existing.record.exportId)) {
    if (p.planHash === oldHash && p.record.state === "PENDING" && p.record.epoch === 0) deletePartition(ctx, p);
  }
}

/** Every planned partition, PENDING and unqueued; one of the same plan is rewritten, one of another is in the way. */
function writePartitions(ctx: MemoryContext, input: NewExport, planHash: string): void {
  const id = input.exportId;
  const parts = input.partitions.map((p, n) =>
    newPartition(ctx, { exportId: id, partition: n, pool: input.spec.pool, ...p }, { planHash }),
  );
  for (const p of parts) {
    const there = partitionOf(ctx, id, p.record.partition);
    if (there && there.planHash !== planHash) {
      throw new Error(`creating export ${id}: writing partition ${p.record.partition}: a partition of another plan is in the way; retry`);
    }
  }
  for (const p of parts) putPartition(ctx, p);
}

/** A new PENDING partition, unqueued (the caller queues it when the plan allows). */
export function newPartition(
  ctx: MemoryContext,
  p: { exportId: string; partition: number; pool: string; lo: SourceKey | null; hi: SourceKey | null; estimatedRows: number },
  extra: { planHash?: string; splitFrom?: number } = {},
): StoredPartition {
  const now = nowIso(ctx);
  const record: PartitionRecord = copy({
    exportId: p.exportId,
    partition: p.partition,
    pool: p.pool,
    lo: p.lo,
    hi: p.hi,
    cursor: null,
    state: "PENDING",
    owner: null,
    epoch: 0,
    leaseExpiresAt: null,
    attempts: 0,
    notBefore: now,
    lastError: null,
    rows: 0,
    bytes: 0,
    chunks: 0,
    estimatedRows: p.estimatedRows,
    splitFrom: extra.splitFrom ?? null,
    updatedAt: now,
  });
  return { record, planHash: extra.planHash ?? "", entry: null };
}

/** Queues every never-claimed, unqueued PENDING partition, then marks the export queued. */
function enqueueAll(ctx: MemoryContext, exportId: string): void {
  for (const p of partitionsOf(ctx, exportId)) {
    const r = p.record;
    if (r.state !== "PENDING" || r.epoch !== 0 || p.entry) continue;
    setEntry(ctx, p, queueEntry(ctx, r, r.notBefore ?? nowIso(ctx)));
  }
  const stored = ctx.table.exports.get(exportId);
  if (stored) stored.record.queued = true;
}

/** An export record as DynamoDB's toExport returns it: validated against the schema, a copy. */
export const exportOut = (stored: StoredExport): ExportRecord => exportRecord.parse(copy(stored.record));

export async function setExportState(ctx: MemoryContext, exportId: string, change: ExportStateChange): Promise<ExportRecord> {
  const stored = ctx.table.exports.get(exportId);
  if (!stored) throw new NotFoundError(exportId, null);
  if (!change.from.includes(stored.record.state)) throw new ExportStateError(exportId, stored.record.state, change.from);
  const { error, manifestKey, rowsExported, bytesExported } = change;
  const fields = Object.entries({ error, manifestKey, rowsExported, bytesExported }).filter(([, v]) => v !== undefined);
  Object.assign(stored.record, copy(Object.fromEntries(fields)), { state: change.to, updatedAt: nowIso(ctx) });
  return exportOut(stored);
}
