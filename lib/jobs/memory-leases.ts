import type { EventKind, PartitionRecord } from "../../config/records.ts";
import { iso, leasePk, leaseSk, queuePk, resumePk, shardOf } from "../dynamo/keys.ts";
import { toLease } from "./items.ts";
import { type ClaimRequest, type FailureInput, type Lease, NotFoundError, type ReapedLease, type ReleaseOptions } from "./job-store.ts";
import {
  copy,
  fenced,
  fenceHolds,
  ledger,
  type MemoryContext,
  nowIso,
  partitionOf,
  queryIndex,
  requeue,
  type StoredPartition,
  setEntry,
} from "./memory-table.ts";
import { attemptsAfter, backoffFor, details, errorText } from "./semantics.ts";

/** Leases in memory: the operations of dynamo-leases.ts, with the same queues, conditions and ledger events. */

/** Claim candidates read per queue; claimers pick among them at random, as the DynamoDB backend does. */
const CANDIDATES = 16;

const leaseEntry = (ctx: MemoryContext, r: PartitionRecord, expires: string) => ({
  pk: leasePk(shardOf(r.exportId, r.partition, ctx.shards)),
  sk: leaseSk(expires, r.exportId, r.partition),
});

function tryClaim(ctx: MemoryContext, p: StoredPartition, req: ClaimRequest): Lease | null {
  const r = p.record;
  const nowMs = ctx.clock.now();
  const now = iso(nowMs);
  // notBefore is always set on a PENDING partition; DynamoDB's condition `notBefore <= :now` fails without one.
  if (r.state !== "PENDING" || r.notBefore === null || r.notBefore > now) return null;
  const expires = iso(nowMs + req.leaseMs);
  const crash = p.openBy !== undefined ? details.silentEnd(p.openBy, r.epoch) : null;
  Object.assign(r, { state: "LEASED", owner: req.owner, epoch: r.epoch + 1, leaseExpiresAt: expires, updatedAt: now });
  if (crash) Object.assign(r, { attempts: r.attempts + 1, lastError: crash });
  p.openBy = req.owner;
  setEntry(ctx, p, leaseEntry(ctx, r, expires));
  ledger(ctx, {
    ...{ exportId: r.exportId, partition: r.partition, kind: "claimed", node: req.owner, epoch: r.epoch, at: now },
    ...(crash ? { detail: details.claimedCounted(r.attempts, crash) } : {}),
  });
  const lease = toLease(copy(r));
  return crash ? { ...lease, crashCounted: crash } : lease;
}

function shuffle<T>(items: T[]): T[] {
  for (let k = items.length - 1; k > 0; k--) {
    const j = Math.floor(Math.random() * (k + 1));
    [items[k], items[j]] = [items[j] as T, items[k] as T];
  }
  return items;
}

export async function claim(ctx: MemoryContext, req: ClaimRequest): Promise<Lease | null> {
  const first = Math.floor(Math.random() * ctx.shards);
  const queues = [resumePk(req.pool), ...Array.from({ length: ctx.shards }, (_, i) => queuePk(req.pool, (first + i) % ctx.shards))];
  for (const queue of queues) {
    // "~" sorts after "#": every entry whose notBefore is now or earlier.
    for (const c of shuffle(queryIndex(ctx, queue, `${nowIso(ctx)}~`, CANDIDATES))) {
      const lease = tryClaim(ctx, c, req);
      if (lease) return lease;
    }
  }
  return null;
}

/** Reads the table, not the queue: a parked or unqueued PENDING partition can be claimed by number, as in DynamoDB. */
export async function claimPartition(ctx: MemoryContext, exportId: string, n: number, req: ClaimRequest): Promise<Lease | null> {
  const p = partitionOf(ctx, exportId, n);
  if (!p) throw new NotFoundError(exportId, n);
  return tryClaim(ctx, p, req);
}

export async function heartbeat(ctx: MemoryContext, lease: Lease, leaseMs: number): Promise<Lease> {
  const p = fenced(ctx, lease);
  const expires = iso(ctx.clock.now() + leaseMs);
  Object.assign(p.record, { leaseExpiresAt: expires, updatedAt: nowIso(ctx) });
  setEntry(ctx, p, leaseEntry(ctx, p.record, expires));
  return toLease(copy(p.record));
}

function endEvent(ctx: MemoryContext, lease: Lease, event: { kind: EventKind; detail?: string }): void {
  ledger(ctx, { exportId: lease.exportId, partition: lease.partition, node: lease.owner, epoch: lease.epoch, ...event });
}

export async function release(ctx: MemoryContext, lease: Lease, options: ReleaseOptions = {}): Promise<void> {
  const p = fenced(ctx, lease);
  delete p.openBy;
  requeue(ctx, p, nowIso(ctx), { resumeFirst: true });
  // Parked: PENDING with its cursor, but on no queue (the export was cancelled; see JobStore.cancelExport).
  if (options.park) setEntry(ctx, p, null);
  endEvent(ctx, lease, { kind: options.interrupted ? "interrupted" : "released", detail: options.detail });
}

export async function complete(ctx: MemoryContext, lease: Lease): Promise<PartitionRecord> {
  const p = fenced(ctx, lease, JSON.stringify(lease.hi));
  delete p.openBy;
  // The owner stays on a DONE partition: the record of who finished it (DynamoDB's update does not remove it either).
  Object.assign(p.record, { state: "DONE", updatedAt: nowIso(ctx), leaseExpiresAt: null });
  setEntry(ctx, p, null);
  endEvent(ctx, lease, { kind: "completed", detail: details.completed(lease) });
  return copy(p.record);
}

export async function fail(ctx: MemoryContext, lease: Lease, failure: FailureInput): Promise<PartitionRecord> {
  const p = fenced(ctx, lease);
  delete p.openBy;
  const attempts = attemptsAfter(lease, failure);
  const error = errorText(failure);
  if (attempts >= failure.maxAttempts) {
    Object.assign(p.record, {
      state: "QUARANTINED",
      attempts,
      lastError: error,
      updatedAt: nowIso(ctx),
      owner: null,
      leaseExpiresAt: null,
    });
    setEntry(ctx, p, null);
    endEvent(ctx, lease, { kind: "quarantined", detail: details.quarantined(attempts, failure, error) });
  } else {
    const backoff = backoffFor(failure, attempts);
    requeue(ctx, p, iso(ctx.clock.now() + backoff));
    Object.assign(p.record, { attempts, lastError: error });
    endEvent(ctx, lease, { kind: "failed", detail: details.failed(attempts, failure, backoff, error) });
  }
  return copy(p.record);
}

export async function reapExpired(ctx: MemoryContext, options: { skewMarginMs: number; limit?: number }): Promise<ReapedLease[]> {
  const limit = options.limit ?? 100;
  const reaped: ReapedLease[] = [];
  const cutoff = iso(ctx.clock.now() - options.skewMarginMs);
  for (let shard = 0; shard < ctx.shards && reaped.length < limit; shard++) {
    for (const p of queryIndex(ctx, leasePk(shard), cutoff, limit - reaped.length)) {
      const { exportId, partition, pool, state, owner, epoch, leaseExpiresAt, cursor } = copy(p.record);
      if (state !== "LEASED" || !owner || !leaseExpiresAt) continue;
      requeue(ctx, p, nowIso(ctx), { resumeFirst: true });
      ledger(ctx, { exportId, partition, kind: "reaped", node: owner, epoch, detail: details.reaped(leaseExpiresAt) });
      reaped.push({ exportId, partition, pool, owner, epoch, leaseExpiresAt, cursor });
    }
  }
  return reaped;
}

export async function refresh(ctx: MemoryContext, lease: Lease): Promise<Lease | null> {
  const p = partitionOf(ctx, lease.exportId, lease.partition);
  return p && fenceHolds(p.record, lease) ? toLease(copy(p.record)) : null;
}
