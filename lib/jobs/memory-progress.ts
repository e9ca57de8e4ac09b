import type { ChunkRecord, SourceKey } from "../../config/records.ts";
import { iso, leasePk, leaseSk, MAX_PARTITION, shardOf } from "../dynamo/keys.ts";
import { toLease } from "./items.ts";
import {
  ChunkSequenceError,
  type Lease,
  LeaseLostError,
  type NewChunk,
  NotFoundError,
  RangeChangedError,
  type SplitFence,
  type SplitResult,
} from "./job-store.ts";
import { newPartition } from "./memory-create.ts";
import {
  copy,
  fenced,
  fenceHolds,
  ledger,
  type MemoryContext,
  partitionOf,
  partKey,
  putPartition,
  queueEntry,
  setEntry,
} from "./memory-table.ts";
import { details, splitEstimate } from "./semantics.ts";

/** Checkpoint and split in memory: the chunk, the partition and the ledger event change together or not at all. */

export async function checkpoint(ctx: MemoryContext, lease: Lease, chunk: NewChunk, options: { leaseMs?: number } = {}): Promise<Lease> {
  const p = fenced(ctx, lease, JSON.stringify(lease.hi));
  const key = partKey(lease.exportId, lease.partition);
  const chunks = ctx.table.chunks.get(key) ?? new Map<number, ChunkRecord>();
  const existing = chunks.get(chunk.seq);
  if (existing || p.record.chunks !== chunk.seq - 1) {
    // Fence and range hold, so the sequence is off: either this exact chunk is already committed (a retry), or not.
    if (existing && existing.key === chunk.objectKey && existing.epoch === lease.epoch) return toLease(copy(p.record));
    throw new ChunkSequenceError(lease.exportId, lease.partition, chunk.seq, p.record.chunks);
  }
  const nowMs = ctx.clock.now();
  const now = iso(nowMs);
  const extend = options.leaseMs !== undefined ? iso(nowMs + options.leaseMs) : undefined;
  chunks.set(chunk.seq, committed(lease, chunk, now));
  delete p.openBy;
  ctx.table.chunks.set(key, chunks);
  const r = p.record;
  Object.assign(r, {
    cursor: copy(chunk.lastKey),
    chunks: chunk.seq,
    rows: r.rows + chunk.rows,
    bytes: r.bytes + chunk.bytes,
    updatedAt: now,
    // Progress: attempts count failures since the partition last moved (a poisoned one never moves).
    attempts: 0,
  });
  if (extend) {
    r.leaseExpiresAt = extend;
    setEntry(ctx, p, { pk: leasePk(shardOf(r.exportId, r.partition, ctx.shards)), sk: leaseSk(extend, r.exportId, r.partition) });
  }
  ledger(ctx, {
    ...{ exportId: lease.exportId, partition: lease.partition, kind: "checkpointed", node: lease.owner, epoch: lease.epoch },
    ...{ detail: details.checkpointed(chunk), at: now, seq: chunk.seq },
  });
  const { crashCounted: _counted, ...held } = lease;
  return copy({
    ...held,
    attempts: 0,
    cursor: chunk.lastKey,
    chunks: chunk.seq,
    rows: lease.rows + chunk.rows,
    bytes: lease.bytes + chunk.bytes,
    leaseExpiresAt: extend ?? lease.leaseExpiresAt,
  });
}

function committed(lease: Lease, chunk: NewChunk, now: string): ChunkRecord {
  return copy({
    exportId: lease.exportId,
    partition: lease.partition,
    seq: chunk.seq,
    epoch: lease.epoch,
    key: chunk.objectKey,
    rows: chunk.rows,
    bytes: chunk.bytes,
    sha256: chunk.sha256,
    firstKey: chunk.firstKey,
    lastKey: chunk.lastKey,
    committedAt: now,
  });
}

/** Splits in one step; the new partition's number is the header's partitionCount, taken in the same step. */
export async function split(
  ctx: MemoryContext,
  fence: SplitFence,
  at: SourceKey,
  options: { estimatedRows?: number } = {},
): Promise<SplitResult> {
  const { exportId, partition } = fence;
  const meta = ctx.table.exports.get(exportId);
  if (!meta) throw new NotFoundError(exportId, null);
  const p = partitionOf(ctx, exportId, partition);
  if (!p) throw new NotFoundError(exportId, partition);
  const r = p.record;
  if (!fenceHolds(r, fence)) {
    throw new LeaseLostError(exportId, partition, fence.owner, fence.epoch, { state: r.state, owner: r.owner, epoch: r.epoch });
  }
  const [cursor, hi] = [JSON.stringify(fence.cursor), JSON.stringify(fence.hi)];
  if (JSON.stringify(r.cursor) !== cursor || JSON.stringify(r.hi) !== hi) {
    const what = `cursor ${JSON.stringify(r.cursor)} / hi ${JSON.stringify(r.hi)}, expected ${cursor} / ${hi}`;
    throw new RangeChangedError(exportId, partition, what, copy(r));
  }
  const count = meta.record.partitionCount;
  if (count > MAX_PARTITION)
    throw new Error(`splitting partition ${partition} of export ${exportId}: the export already has ${count} partitions`);
  // DynamoDB's put of the new partition is conditional on the number being free; it only is not after a replaced plan.
  if (partitionOf(ctx, exportId, count))
    throw new Error(`splitting partition ${partition} of export ${exportId}: partition ${count} exists`);
  const estimate = splitEstimate(r, options.estimatedRows);
  const created = newPartition(
    ctx,
    { exportId, partition: count, pool: r.pool, lo: at, hi: fence.hi, estimatedRows: estimate.created },
    { planHash: meta.record.planHash, splitFrom: partition },
  );
  const now = created.record.updatedAt;
  created.entry = queueEntry(ctx, created.record, now);
  Object.assign(meta.record, { partitionCount: count + 1, updatedAt: now });
  Object.assign(r, { hi: copy(at), estimatedRows: estimate.kept, updatedAt: now });
  putPartition(ctx, created);
  ledger(ctx, {
    ...{ exportId, partition, kind: "split", node: fence.owner, epoch: fence.epoch },
    ...{ detail: details.splitKept(at, count), at: now, seq: r.chunks },
  });
  ledger(ctx, { exportId, partition: count, kind: "split", node: null, epoch: 0, detail: details.splitCreated(partition), at: now });
  return { kept: copy(r), created: copy(created.record) };
}
