import type { ChunkRecord, EventRecord, ExportRecord, PartitionRecord } from "../../config/records.ts";
import type { Clock } from "../clock.ts";
import { eventSk, iso, queuePk, queueSk, resumePk, shardOf } from "../dynamo/keys.ts";
import { LeaseLostError, NotFoundError, RangeChangedError } from "./job-store.ts";

/**
 * The in-memory state behind MemoryJobStore: what one DynamoDB state table holds, as plain Maps. Several stores on one
 * MemoryJobTable play several processes on one table (each with its own clock), as the contract suite does.
 *
 * The claim and lease queues mirror the table's sparse index entry by entry (same keys, from lib/dynamo/keys.ts): which
 * queue a partition is on (sharded, resume, lease, none) is state that no partition field implies (a parked or
 * cancelled partition is PENDING but unqueued), and keeping the same sort keys gives the same claim and reap order.
 * Every operation runs without an await between its checks and its writes, so each one is atomic, as a DynamoDB
 * transaction is.
 */
export class MemoryJobTable {
  readonly exports = new Map<string, StoredExport>();
  /** Partitions by export id, then partition number. */
  readonly partitions = new Map<string, Map<number, StoredPartition>>();
  /** Chunks by partKey, then seq. */
  readonly chunks = new Map<string, Map<number, ChunkRecord>>();
  /** Ledger events by partKey, kept sorted by their sort key (causal order, lib/dynamo/keys.ts eventSk). */
  readonly events = new Map<string, StoredEvent[]>();
  /** The index: entries by their index key, then the partitions on it. */
  readonly index = new Map<string, Set<StoredPartition>>();
}

export interface StoredExport {
  record: ExportRecord;
  specHash: string;
}

export interface StoredPartition {
  record: PartitionRecord;
  planHash: string;
  /** The partition's index entry: a claim queue, the lease queue, or none. */
  entry: IndexEntry | null;
  /** The owner of a lease whose holder has not reported yet: the `openBy` attribute of dynamo-leases.ts. */
  openBy?: string;
}

export interface IndexEntry {
  pk: string;
  sk: string;
}

export interface StoredEvent {
  sk: string;
  event: EventRecord;
}

/** What each operation works on: the shared table, this process's clock and its queue shard count. */
export interface MemoryContext {
  table: MemoryJobTable;
  clock: Clock;
  shards: number;
}

export const partKey = (exportId: string, n: number) => `${exportId}#${n}`;
export const copy = <T>(value: T): T => structuredClone(value);
export const nowIso = (ctx: MemoryContext) => iso(ctx.clock.now());

export function partitionOf(ctx: MemoryContext, exportId: string, n: number): StoredPartition | null {
  return ctx.table.partitions.get(exportId)?.get(n) ?? null;
}

/** Every partition of an export in partition order. */
export function partitionsOf(ctx: MemoryContext, exportId: string): StoredPartition[] {
  return [...(ctx.table.partitions.get(exportId)?.values() ?? [])].sort((a, b) => a.record.partition - b.record.partition);
}

export function putPartition(ctx: MemoryContext, p: StoredPartition): void {
  const { exportId, partition } = p.record;
  const byNumber = ctx.table.partitions.get(exportId) ?? new Map<number, StoredPartition>();
  ctx.table.partitions.set(exportId, byNumber);
  const old = byNumber.get(partition);
  if (old) setEntry(ctx, old, null);
  byNumber.set(partition, p);
  const entry = p.entry;
  p.entry = null;
  setEntry(ctx, p, entry);
}

export function deletePartition(ctx: MemoryContext, p: StoredPartition): void {
  setEntry(ctx, p, null);
  ctx.table.partitions.get(p.record.exportId)?.delete(p.record.partition);
}

/** Moves a partition's index entry (null: off every queue). */
export function setEntry(ctx: MemoryContext, p: StoredPartition, entry: IndexEntry | null): void {
  if (p.entry) ctx.table.index.get(p.entry.pk)?.delete(p);
  p.entry = entry;
  if (!entry) return;
  const on = ctx.table.index.get(entry.pk) ?? new Set<StoredPartition>();
  ctx.table.index.set(entry.pk, on);
  on.add(p);
}

/** Up to `limit` partitions on index key `pk` whose sort key is below `below`, in sort-key order. */
export function queryIndex(ctx: MemoryContext, pk: string, below: string, limit: number): StoredPartition[] {
  return [...(ctx.table.index.get(pk) ?? [])]
    .filter((p) => p.entry !== null && p.entry.sk < below)
    .sort((a, b) => ((a.entry?.sk ?? "") < (b.entry?.sk ?? "") ? -1 : 1))
    .slice(0, limit);
}

/** The claim queue entry of a PENDING partition at `notBefore`: its shard's, or the pool's resume queue. */
export function queueEntry(ctx: MemoryContext, r: PartitionRecord, notBefore: string, resumeFirst = false): IndexEntry {
  const pk = resumeFirst ? resumePk(r.pool) : queuePk(r.pool, shardOf(r.exportId, r.partition, ctx.shards));
  return { pk, sk: queueSk(notBefore, r.exportId, r.partition) };
}

/** Back to PENDING at `notBefore` without an owner, on a claim queue (see requeueUpdate in dynamo-leases.ts). */
export function requeue(ctx: MemoryContext, p: StoredPartition, notBefore: string, options: { resumeFirst?: boolean } = {}): void {
  Object.assign(p.record, { state: "PENDING", notBefore, updatedAt: nowIso(ctx), owner: null, leaseExpiresAt: null });
  setEntry(ctx, p, queueEntry(ctx, p.record, notBefore, options.resumeFirst));
}

export interface NewEvent extends Omit<EventRecord, "at" | "detail" | "formerOwner" | "interrupted"> {
  detail?: string;
  formerOwner?: string;
  interrupted?: boolean;
  at?: string;
  /** The chunk a checkpoint commits, or the chunks committed when a split happened (orders events of one epoch). */
  seq?: number;
}

/** Appends a ledger event in causal order; fields left undefined are not stored, as DynamoDB drops them. */
export function ledger(ctx: MemoryContext, e: NewEvent): void {
  const { seq, at = nowIso(ctx), ...fields } = e;
  const event = copy({ ...fields, at }) as EventRecord;
  for (const k of ["detail", "formerOwner", "interrupted"] as const) if (event[k] === undefined) delete event[k];
  const key = partKey(e.exportId, e.partition);
  const list = ctx.table.events.get(key) ?? [];
  ctx.table.events.set(key, list);
  const sk = eventSk(e.kind, e.epoch, seq ?? 0, at);
  let i = list.length;
  while (i > 0 && (list[i - 1] as StoredEvent).sk > sk) i--;
  list.splice(i, 0, { sk, event });
}

export const fenceHolds = (r: PartitionRecord, f: { owner: string; epoch: number }) =>
  r.state === "LEASED" && r.owner === f.owner && r.epoch === f.epoch;

/**
 * The partition a fenced write may change, or the typed error the write fails with: NotFound, LeaseLost, or
 * RangeChanged when the fence holds but hi is no longer `expectHi` (compared as exact text, like the DynamoDB backend).
 */
export function fenced(
  ctx: MemoryContext,
  f: { exportId: string; partition: number; owner: string; epoch: number },
  expectHi?: string,
): StoredPartition {
  const p = partitionOf(ctx, f.exportId, f.partition);
  if (!p) throw new NotFoundError(f.exportId, f.partition);
  const r = p.record;
  if (!fenceHolds(r, f))
    throw new LeaseLostError(f.exportId, f.partition, f.owner, f.epoch, { state: r.state, owner: r.owner, epoch: r.epoch });
  if (expectHi !== undefined && JSON.stringify(r.hi) !== expectHi) {
    throw new RangeChangedError(f.exportId, f.partition, `hi is now ${JSON.stringify(r.hi)}, was ${expectHi} (split)`, copy(r));
  }
  return p;
}
