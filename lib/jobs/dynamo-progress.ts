import type { PartitionRecord, SourceKey } from "../../config/records.ts";
import { type StoreContext, type TxItem, transact } from "../dynamo/access.ts";
import {
  chunkSk,
  exportPk,
  type Item,
  iso,
  leasePk,
  leaseSk,
  MAX_PARTITION,
  META,
  partitionLogPk,
  partitionSk,
  shardOf,
} from "../dynamo/keys.ts";
import { explainFenceFailure, FENCE, fenceNames, fenceValues, ledger, OPEN_BY } from "./dynamo-leases.ts";
import { getExportItem, getItem, readPartitionItem } from "./dynamo-reads.ts";
import { encodeKey, newPartitionItem, toLease, toPartition } from "./items.ts";
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
import { details, splitEstimate } from "./semantics.ts";

const MAX_SPLIT_RETRIES = 10;

/**
 * Commits a chunk: one transaction of three items (chunk item, fenced partition update, ledger event). The chunk is a
 * separate item, so a partition with thousands of chunks stays a small item.
 */
export async function checkpoint(ctx: StoreContext, lease: Lease, chunk: NewChunk, options: { leaseMs?: number } = {}): Promise<Lease> {
  const what = `checkpointing chunk ${chunk.seq} of partition ${lease.partition} of export ${lease.exportId}`;
  const nowMs = ctx.clock.now();
  const now = iso(nowMs);
  const hi = encodeKey(lease.hi);
  const extend = options.leaseMs !== undefined ? iso(nowMs + options.leaseMs) : undefined;
  const outcome = await transact(
    ctx,
    [
      chunkItem(ctx, lease, chunk, now),
      advancePartition(ctx, lease, chunk, { now, hi, extend }),
      ledger(ctx, {
        exportId: lease.exportId,
        partition: lease.partition,
        kind: "checkpointed",
        node: lease.owner,
        epoch: lease.epoch,
        detail: details.checkpointed(chunk),
        at: now,
        seq: chunk.seq,
      }),
    ],
    what,
  );
  if (outcome.ok) {
    const { crashCounted: _counted, ...held } = lease;
    return {
      ...held,
      attempts: 0,
      cursor: chunk.lastKey,
      chunks: chunk.seq,
      rows: lease.rows + chunk.rows,
      bytes: lease.bytes + chunk.bytes,
      leaseExpiresAt: extend ?? lease.leaseExpiresAt,
    };
  }
  const why = await explainFenceFailure(ctx, lease, hi);
  if (why instanceof Error) throw why;
  // Fence and range hold, so the sequence is off: either this exact chunk is already committed (a retry), or not.
  const existing = await getItem(ctx, partitionLogPk(lease.exportId, lease.partition), chunkSk(chunk.seq), what);
  if (existing && existing.key === chunk.objectKey && existing.epoch === lease.epoch) return toLease(why);
  throw new ChunkSequenceError(lease.exportId, lease.partition, chunk.seq, why.chunks);
}

/** The chunk's own item in the partition's log; a second put of the same seq fails the transaction. */
function chunkItem(ctx: StoreContext, lease: Lease, chunk: NewChunk, now: string): TxItem {
  return {
    Put: {
      TableName: ctx.table,
      Item: {
        pk: partitionLogPk(lease.exportId, lease.partition),
        sk: chunkSk(chunk.seq),
        type: "CHUNK",
        exportId: lease.exportId,
        partition: lease.partition,
        seq: chunk.seq,
        epoch: lease.epoch,
        owner: lease.owner,
        key: chunk.objectKey,
        rows: chunk.rows,
        bytes: chunk.bytes,
        sha256: chunk.sha256,
        firstKey: encodeKey(chunk.firstKey),
        lastKey: encodeKey(chunk.lastKey),
        committedAt: now,
      },
      ConditionExpression: "attribute_not_exists(pk)",
    },
  };
}

/**
 * The fenced partition update: cursor, chunk count and totals move on only for the holder of the lease, over the range
 * it read (`hi`, encoded) and right after the previous chunk; `extend` renews the lease in the same write.
 */
function advancePartition(
  ctx: StoreContext,
  lease: Lease,
  chunk: NewChunk,
  at: { now: string; hi: string; extend: string | undefined },
): TxItem {
  const { now, hi, extend } = at;
  const shard = shardOf(lease.exportId, lease.partition, ctx.shards);
  return {
    Update: {
      TableName: ctx.table,
      Key: { pk: exportPk(lease.exportId), sk: partitionSk(lease.partition) },
      ConditionExpression: `${FENCE} AND #hi = :hi AND chunks = :prev`,
      // Progress: attempts count failures since the partition last moved (a poisoned one never moves).
      UpdateExpression: `SET #cu = :cursor, chunks = :seq, #rows = #rows + :rows, #bytes = #bytes + :bytes, updatedAt = :now, attempts = :zero${
        extend ? ", leaseExpiresAt = :exp, gsi1pk = :lp, gsi1sk = :ls" : ""
      } REMOVE ${OPEN_BY}`,
      ExpressionAttributeNames: { ...fenceNames, "#hi": "hi", "#cu": "cursor", "#rows": "rows", "#bytes": "bytes" },
      ExpressionAttributeValues: {
        ...fenceValues(lease),
        ":hi": hi,
        ":prev": chunk.seq - 1,
        ":cursor": encodeKey(chunk.lastKey),
        ":seq": chunk.seq,
        ":rows": chunk.rows,
        ":bytes": chunk.bytes,
        ":now": now,
        ":zero": 0,
        ...(extend ? { ":exp": extend, ":lp": leasePk(shard), ":ls": leaseSk(extend, lease.exportId, lease.partition) } : {}),
      },
    },
  };
}

/**
 * Splits a leased partition at `at`. The new partition number comes from the export header's partitionCount, taken
 * in the same transaction (conditional on the count read), so two concurrent splits never reuse a number.
 */
export async function split(
  ctx: StoreContext,
  fence: SplitFence,
  at: SourceKey,
  options: { estimatedRows?: number } = {},
): Promise<SplitResult> {
  const { exportId, partition } = fence;
  const what = `splitting partition ${partition} of export ${exportId} at ${JSON.stringify(at)}`;
  for (let attempt = 0; attempt < MAX_SPLIT_RETRIES; attempt++) {
    const target = await readSplitTarget(ctx, fence, what);
    const { p, count } = target;
    const now = iso(ctx.clock.now());
    const estimate = splitEstimate(p, options.estimatedRows);
    const created = newPartitionItem({
      exportId,
      partition: count,
      pool: p.pool,
      lo: at,
      hi: fence.hi,
      estimatedRows: estimate.created,
      now,
      shards: ctx.shards,
      planHash: target.planHash,
      queued: true,
      splitFrom: partition,
    });
    const outcome = await transact(ctx, splitItems(ctx, { fence, at, target, created, kept: estimate.kept, now }), what);
    if (outcome.ok) {
      return { kept: { ...p, hi: at, estimatedRows: estimate.kept, updatedAt: now }, created: toPartition(created) };
    }
    // Only the header's count moving (another split) is worth retrying; anything else is answered by the re-read.
  }
  throw new Error(`${what}: the export header kept changing; retry later`);
}

/** The partition to split and what its export's header says, as read for one attempt. */
interface SplitTarget {
  p: PartitionRecord;
  /** The header's partitionCount: the number the new partition takes. */
  count: number;
  planHash: string;
  /** The fence's cursor and hi, encoded as stored. */
  cursor: string;
  hi: string;
}

/** Throws unless the fence and the range the split point was chosen in still hold. */
async function readSplitTarget(ctx: StoreContext, fence: SplitFence, what: string): Promise<SplitTarget> {
  const { exportId, partition } = fence;
  const [meta, item] = await Promise.all([getExportItem(ctx, exportId), readPartitionItem(ctx, exportId, partition)]);
  if (!meta) throw new NotFoundError(exportId, null);
  if (!item) throw new NotFoundError(exportId, partition);
  const p = toPartition(item);
  if (p.state !== "LEASED" || p.owner !== fence.owner || p.epoch !== fence.epoch) {
    throw new LeaseLostError(exportId, partition, fence.owner, fence.epoch, { state: p.state, owner: p.owner, epoch: p.epoch });
  }
  const cursor = encodeKey(fence.cursor);
  const hi = encodeKey(fence.hi);
  if (item.cursor !== cursor || item.hi !== hi) {
    throw new RangeChangedError(exportId, partition, `cursor ${item.cursor} / hi ${item.hi}, expected ${cursor} / ${hi}`, p);
  }
  const count = meta.partitionCount as number;
  if (count > MAX_PARTITION) throw new Error(`${what}: the export already has ${count} partitions`);
  return { p, count, planHash: meta.planHash as string, cursor, hi };
}

/** The split's transaction: header count taken, kept partition cut at `at` (fenced), new partition, two ledger events. */
function splitItems(
  ctx: StoreContext,
  s: { fence: SplitFence; at: SourceKey; target: SplitTarget; created: Item; kept: number; now: string },
): TxItem[] {
  const { fence, at, target, created, kept, now } = s;
  const { exportId, partition } = fence;
  const { count } = target;
  return [
    {
      Update: {
        TableName: ctx.table,
        Key: { pk: exportPk(exportId), sk: META },
        ConditionExpression: "partitionCount = :count",
        UpdateExpression: "SET partitionCount = :next, updatedAt = :now",
        ExpressionAttributeValues: { ":count": count, ":next": count + 1, ":now": now },
      },
    },
    {
      Update: {
        TableName: ctx.table,
        Key: { pk: exportPk(exportId), sk: partitionSk(partition) },
        ConditionExpression: `${FENCE} AND #cu = :cursor AND #hi = :hi`,
        UpdateExpression: "SET #hi = :at, estimatedRows = :kept, updatedAt = :now",
        ExpressionAttributeNames: { ...fenceNames, "#cu": "cursor", "#hi": "hi" },
        ExpressionAttributeValues: {
          ...fenceValues(fence),
          ":cursor": target.cursor,
          ":hi": target.hi,
          ":at": encodeKey(at),
          ":kept": kept,
          ":now": now,
        },
      },
    },
    { Put: { TableName: ctx.table, Item: created, ConditionExpression: "attribute_not_exists(pk)" } },
    ledger(ctx, {
      exportId,
      partition,
      kind: "split",
      node: fence.owner,
      epoch: fence.epoch,
      detail: details.splitKept(at, count),
      at: now,
      seq: target.p.chunks,
    }),
    ledger(ctx, {
      exportId,
      partition: count,
      kind: "split",
      node: null,
      epoch: 0,
      detail: details.splitCreated(partition),
      at: now,
    }),
  ];
}
