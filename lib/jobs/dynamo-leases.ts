import type { EventKind, PartitionRecord } from "../../config/records.ts";
import { conditionalUpdate, queryPage, type StoreContext, transact } from "../dynamo/access.ts";
import { exportPk, GSI1, type Item, iso, leasePk, leaseSk, partitionSk, queuePk, queueSk, resumePk, shardOf } from "../dynamo/keys.ts";
import { readPartitionItem } from "./dynamo-reads.ts";
import { encodeKey, eventItem, toLease, toPartition } from "./items.ts";
import {
  type ClaimRequest,
  type FailureInput,
  type Lease,
  LeaseLostError,
  NotFoundError,
  RangeChangedError,
  type ReapedLease,
  type ReleaseOptions,
} from "./job-store.ts";
import { attemptsAfter, backoffFor, details, errorText } from "./semantics.ts";

/** Claim candidates read per queue shard; claimers pick among them at random to avoid colliding. */
const CANDIDATES = 16;

export const FENCE = "#st = :leased AND #ow = :owner AND #ep = :epoch";
export const fenceNames = { "#st": "state", "#ow": "owner", "#ep": "epoch" };
export const fenceValues = (f: { owner: string; epoch: number }) => ({ ":leased": "LEASED", ":owner": f.owner, ":epoch": f.epoch });

const partKey = (exportId: string, n: number) => ({ pk: exportPk(exportId), sk: partitionSk(n) });

/**
 * Partition attribute: the owner of a lease whose holder has not reported yet (set by claim; removed by its
 * checkpoint, release, fail or complete, and by a blameless revoke). Still there at the next claim: a silent end.
 */
export const OPEN_BY = "openBy";

/**
 * After a fenced write failed its condition: the typed error to throw (NotFound, LeaseLost, or RangeChanged when the
 * fence holds but hi differs from `expectHi`), or the current record when the fence and range still hold.
 */
export async function explainFenceFailure(
  ctx: StoreContext,
  f: { exportId: string; partition: number; owner: string; epoch: number },
  expectHi?: string,
): Promise<Error | PartitionRecord> {
  const item = await readPartitionItem(ctx, f.exportId, f.partition);
  if (!item) return new NotFoundError(f.exportId, f.partition);
  const p = toPartition(item);
  if (p.state !== "LEASED" || p.owner !== f.owner || p.epoch !== f.epoch) {
    return new LeaseLostError(f.exportId, f.partition, f.owner, f.epoch, { state: p.state, owner: p.owner, epoch: p.epoch });
  }
  if (expectHi !== undefined && item.hi !== expectHi) {
    return new RangeChangedError(f.exportId, f.partition, `hi is now ${item.hi}, was ${expectHi} (split)`, p);
  }
  return p;
}

export function ledger(
  ctx: StoreContext,
  e: {
    exportId: string;
    partition: number;
    kind: EventKind;
    node: string | null;
    epoch: number;
    detail?: string;
    formerOwner?: string;
    interrupted?: boolean;
    at?: string;
    seq?: number;
  },
) {
  const { seq, ...rest } = e;
  const at = e.at ?? iso(ctx.clock.now());
  return { Put: { TableName: ctx.table, Item: eventItem({ ...rest, at, node: e.node }, seq) } };
}

async function queryQueue(ctx: StoreContext, gsi1pk: string, below: string, limit: number, what: string): Promise<Item[]> {
  const { items } = await queryPage(
    ctx,
    {
      IndexName: GSI1,
      KeyConditionExpression: "gsi1pk = :p AND gsi1sk < :below",
      ExpressionAttributeValues: { ":p": gsi1pk, ":below": below },
      Limit: limit,
    },
    what,
  );
  return items;
}

/**
 * One claim attempt on an item as read (from the queue index or the table). The condition includes the epoch read,
 * so a stale index entry cannot be claimed, and (state PENDING, epoch) identifies one version of the item: the lease
 * can be built from what was read without reading again.
 */
async function tryClaim(ctx: StoreContext, item: Item, req: ClaimRequest): Promise<Lease | null> {
  const p = toPartition(item);
  const nowMs = ctx.clock.now();
  const now = iso(nowMs);
  if (p.state !== "PENDING" || (p.notBefore !== null && p.notBefore > now)) return null;
  const expires = iso(nowMs + req.leaseMs);
  const epoch = p.epoch + 1;
  const shard = shardOf(p.exportId, p.partition, ctx.shards);
  // The epoch in the condition pins the version read, so `openBy` (set by the last claim, cleared by its holder's
  // reports) says for certain whether the previous lease ended silently.
  const crash = typeof item[OPEN_BY] === "string" ? details.silentEnd(item[OPEN_BY] as string, p.epoch) : null;
  const attempts = p.attempts + (crash ? 1 : 0);
  const outcome = await transact(
    ctx,
    [
      {
        Update: {
          TableName: ctx.table,
          Key: partKey(p.exportId, p.partition),
          ConditionExpression: "#st = :pending AND #ep = :seen AND notBefore <= :now",
          UpdateExpression:
            "SET #st = :leased, #ow = :owner, #ep = :epoch, leaseExpiresAt = :exp, updatedAt = :now, gsi1pk = :lp, gsi1sk = :ls, " +
            `${OPEN_BY} = :owner${crash ? ", attempts = :att, lastError = :err" : ""}`,
          ExpressionAttributeNames: fenceNames,
          ExpressionAttributeValues: {
            ":pending": "PENDING",
            ":seen": p.epoch,
            ":now": now,
            ...fenceValues({ owner: req.owner, epoch }),
            ":exp": expires,
            ":lp": leasePk(shard),
            ":ls": leaseSk(expires, p.exportId, p.partition),
            ...(crash ? { ":att": attempts, ":err": crash } : {}),
          },
        },
      },
      ledger(ctx, {
        ...{ exportId: p.exportId, partition: p.partition, kind: "claimed", node: req.owner, epoch, at: now },
        ...(crash ? { detail: details.claimedCounted(attempts, crash) } : {}),
      }),
    ],
    `claiming partition ${p.partition} of export ${p.exportId} for ${req.owner}`,
  );
  if (!outcome.ok) return null;
  const lease = toLease({ ...p, state: "LEASED", owner: req.owner, epoch, leaseExpiresAt: expires, updatedAt: now, attempts });
  return crash ? { ...lease, crashCounted: crash } : lease;
}

export async function claim(ctx: StoreContext, req: ClaimRequest): Promise<Lease | null> {
  const first = Math.floor(Math.random() * ctx.shards);
  const queues = [resumePk(req.pool), ...Array.from({ length: ctx.shards }, (_, i) => queuePk(req.pool, (first + i) % ctx.shards))];
  for (const queue of queues) {
    // "~" sorts after "#": every entry whose notBefore is now or earlier.
    const below = `${iso(ctx.clock.now())}~`;
    const candidates = await queryQueue(ctx, queue, below, CANDIDATES, `reading claim queue ${queue} of pool ${req.pool}`);
    for (let k = candidates.length - 1; k > 0; k--) {
      const j = Math.floor(Math.random() * (k + 1));
      [candidates[k], candidates[j]] = [candidates[j] as Item, candidates[k] as Item];
    }
    for (const c of candidates) {
      const lease = await tryClaim(ctx, c, req);
      if (lease) return lease;
    }
  }
  return null;
}

export async function claimPartition(ctx: StoreContext, exportId: string, n: number, req: ClaimRequest): Promise<Lease | null> {
  const item = await readPartitionItem(ctx, exportId, n);
  if (!item) throw new NotFoundError(exportId, n);
  return tryClaim(ctx, item, req);
}

export async function heartbeat(ctx: StoreContext, lease: Lease, leaseMs: number): Promise<Lease> {
  const expires = iso(ctx.clock.now() + leaseMs);
  const shard = shardOf(lease.exportId, lease.partition, ctx.shards);
  const item = await conditionalUpdate(
    ctx,
    {
      Key: partKey(lease.exportId, lease.partition),
      ConditionExpression: FENCE,
      UpdateExpression: "SET leaseExpiresAt = :exp, updatedAt = :now, gsi1pk = :lp, gsi1sk = :ls",
      ExpressionAttributeNames: fenceNames,
      ExpressionAttributeValues: {
        ...fenceValues(lease),
        ":exp": expires,
        ":now": iso(ctx.clock.now()),
        ":lp": leasePk(shard),
        ":ls": leaseSk(expires, lease.exportId, lease.partition),
      },
    },
    `extending the lease on partition ${lease.partition} of export ${lease.exportId}`,
  );
  if (item) return toLease(toPartition(item));
  const why = await explainFenceFailure(ctx, lease);
  throw why instanceof Error ? why : new Error(`extending the lease on partition ${lease.partition}: condition failed, fence holds`);
}

/**
 * Back to PENDING and on the queue at `notBefore`, from a fenced holder. With `resumeFirst` it goes on the pool's
 * resume queue, which every claim reads before the sharded queue: work that was interrupted, released or reaped
 * mid-way is resumed by the next free node instead of waiting behind the rest of the export. The resume queue only
 * holds handed-back partitions, so it stays short and its single key is not hot.
 */
export function requeueUpdate(
  ctx: StoreContext,
  p: { exportId: string; partition: number; pool: string },
  notBefore: string,
  options: { resumeFirst?: boolean } = {},
) {
  const shard = shardOf(p.exportId, p.partition, ctx.shards);
  return {
    set: "#st = :pending, notBefore = :nb, updatedAt = :now, gsi1pk = :qp, gsi1sk = :qs",
    remove: "REMOVE #ow, leaseExpiresAt",
    values: {
      ":pending": "PENDING",
      ":nb": notBefore,
      ":now": iso(ctx.clock.now()),
      ":qp": options.resumeFirst ? resumePk(p.pool) : queuePk(p.pool, shard),
      ":qs": queueSk(notBefore, p.exportId, p.partition),
    },
  };
}

async function fencedTransition(
  ctx: StoreContext,
  lease: Lease,
  update: { expr: string; values: Record<string, unknown>; checkHi?: boolean },
  event: { kind: EventKind; detail?: string },
  what: string,
): Promise<void> {
  const hi = encodeKey(lease.hi);
  const outcome = await transact(
    ctx,
    [
      {
        Update: {
          TableName: ctx.table,
          Key: partKey(lease.exportId, lease.partition),
          ConditionExpression: update.checkHi ? `${FENCE} AND #hi = :hi` : FENCE,
          UpdateExpression: update.expr,
          ExpressionAttributeNames: { ...fenceNames, ...(update.checkHi ? { "#hi": "hi" } : {}) },
          ExpressionAttributeValues: { ...fenceValues(lease), ...update.values, ...(update.checkHi ? { ":hi": hi } : {}) },
        },
      },
      ledger(ctx, { exportId: lease.exportId, partition: lease.partition, node: lease.owner, epoch: lease.epoch, ...event }),
    ],
    what,
  );
  if (outcome.ok) return;
  const why = await explainFenceFailure(ctx, lease, update.checkHi ? hi : undefined);
  throw why instanceof Error ? why : new Error(`${what}: condition failed although the fence holds`);
}

export async function release(ctx: StoreContext, lease: Lease, options: ReleaseOptions = {}): Promise<void> {
  const rq = requeueUpdate(ctx, lease, iso(ctx.clock.now()), { resumeFirst: true });
  // Parked: PENDING with its cursor, but no queue entry (the export was cancelled; see JobStore.cancelExport).
  const update = options.park
    ? {
        expr: `SET #st = :pending, notBefore = :nb, updatedAt = :now REMOVE #ow, leaseExpiresAt, gsi1pk, gsi1sk, ${OPEN_BY}`,
        values: { ":pending": "PENDING", ":nb": rq.values[":nb"], ":now": rq.values[":now"] },
      }
    : { expr: `SET ${rq.set} ${rq.remove}, ${OPEN_BY}`, values: rq.values };
  await fencedTransition(
    ctx,
    lease,
    update,
    { kind: options.interrupted ? "interrupted" : "released", detail: options.detail },
    `releasing partition ${lease.partition} of export ${lease.exportId}`,
  );
}

export async function complete(ctx: StoreContext, lease: Lease): Promise<PartitionRecord> {
  const now = iso(ctx.clock.now());
  await fencedTransition(
    ctx,
    lease,
    {
      expr: `SET #st = :done, updatedAt = :now REMOVE leaseExpiresAt, gsi1pk, gsi1sk, ${OPEN_BY}`,
      values: { ":done": "DONE", ":now": now },
      checkHi: true,
    },
    { kind: "completed", detail: details.completed(lease) },
    `completing partition ${lease.partition} of export ${lease.exportId}`,
  );
  const item = await readPartitionItem(ctx, lease.exportId, lease.partition);
  if (!item) throw new NotFoundError(lease.exportId, lease.partition);
  return toPartition(item);
}

export async function fail(ctx: StoreContext, lease: Lease, failure: FailureInput): Promise<PartitionRecord> {
  const attempts = attemptsAfter(lease, failure);
  const error = errorText(failure);
  const what = `recording failure ${attempts} of partition ${lease.partition} of export ${lease.exportId}`;
  if (attempts >= failure.maxAttempts) {
    await fencedTransition(
      ctx,
      lease,
      {
        expr: `SET #st = :q, attempts = :a, lastError = :err, updatedAt = :now REMOVE #ow, leaseExpiresAt, gsi1pk, gsi1sk, ${OPEN_BY}`,
        values: { ":q": "QUARANTINED", ":a": attempts, ":err": error, ":now": iso(ctx.clock.now()) },
      },
      { kind: "quarantined", detail: details.quarantined(attempts, failure, error) },
      what,
    );
  } else {
    const backoff = backoffFor(failure, attempts);
    const rq = requeueUpdate(ctx, lease, iso(ctx.clock.now() + backoff));
    await fencedTransition(
      ctx,
      lease,
      {
        expr: `SET ${rq.set}, attempts = :a, lastError = :err ${rq.remove}, ${OPEN_BY}`,
        values: { ...rq.values, ":a": attempts, ":err": error },
      },
      { kind: "failed", detail: details.failed(attempts, failure, backoff, error) },
      what,
    );
  }
  const item = await readPartitionItem(ctx, lease.exportId, lease.partition);
  if (!item) throw new NotFoundError(lease.exportId, lease.partition);
  return toPartition(item);
}

export async function reapExpired(ctx: StoreContext, options: { skewMarginMs: number; limit?: number }): Promise<ReapedLease[]> {
  const limit = options.limit ?? 100;
  const reaped: ReapedLease[] = [];
  const cutoff = iso(ctx.clock.now() - options.skewMarginMs);
  for (let shard = 0; shard < ctx.shards && reaped.length < limit; shard++) {
    const expired = await queryQueue(ctx, leasePk(shard), cutoff, limit - reaped.length, `reading lease queue ${shard}`);
    for (const item of expired) {
      const p = toPartition(item);
      if (p.state !== "LEASED" || !p.owner || !p.leaseExpiresAt) continue;
      const rq = requeueUpdate(ctx, p, iso(ctx.clock.now()), { resumeFirst: true });
      const outcome = await transact(
        ctx,
        [
          {
            Update: {
              TableName: ctx.table,
              Key: partKey(p.exportId, p.partition),
              // The exact lease read: a heartbeat since then moved leaseExpiresAt and wins.
              ConditionExpression: `${FENCE} AND leaseExpiresAt = :exp`,
              UpdateExpression: `SET ${rq.set} ${rq.remove}`,
              ExpressionAttributeNames: fenceNames,
              ExpressionAttributeValues: { ...fenceValues({ owner: p.owner, epoch: p.epoch }), ":exp": p.leaseExpiresAt, ...rq.values },
            },
          },
          ledger(ctx, {
            exportId: p.exportId,
            partition: p.partition,
            kind: "reaped",
            node: p.owner,
            epoch: p.epoch,
            detail: details.reaped(p.leaseExpiresAt),
          }),
        ],
        `reaping partition ${p.partition} of export ${p.exportId}`,
      );
      if (!outcome.ok) continue;
      reaped.push({
        exportId: p.exportId,
        partition: p.partition,
        pool: p.pool,
        owner: p.owner,
        epoch: p.epoch,
        leaseExpiresAt: p.leaseExpiresAt,
        cursor: p.cursor,
      });
    }
  }
  return reaped;
}

export async function refresh(ctx: StoreContext, lease: Lease): Promise<Lease | null> {
  const item = await readPartitionItem(ctx, lease.exportId, lease.partition);
  if (!item) return null;
  const p = toPartition(item);
  return p.state === "LEASED" && p.owner === lease.owner && p.epoch === lease.epoch ? toLease(p) : null;
}
