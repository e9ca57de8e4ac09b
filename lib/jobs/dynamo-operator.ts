import type { ExportRecord, PartitionRecord } from "../../config/records.ts";
import { conditionalUpdate, mapLimit, type StoreContext, transact } from "../dynamo/access.ts";
import { exportPk, iso, META, partitionSk } from "../dynamo/keys.ts";
import { setExportState } from "./dynamo-create.ts";
import { FENCE, fenceNames, fenceValues, ledger, OPEN_BY, requeueUpdate } from "./dynamo-leases.ts";
import { getExportItem, listPartitions, readPartitionItem } from "./dynamo-reads.ts";
import { toExport, toPartition } from "./items.ts";
import { ExportStateError, type LeaseFence, NotFoundError, PartitionStateError, type RevokeReason } from "./job-store.ts";
import { details } from "./semantics.ts";

/** Operator actions on jobs (the `spotferry cancel` and `retry` commands, the controller's revoke); contracts in job-store.ts. */

const DEQUEUE_CONCURRENCY = 16;

export async function cancelExport(
  ctx: StoreContext,
  exportId: string,
  options: { reason?: string } = {},
): Promise<{ export: ExportRecord; dequeued: number }> {
  const record = await setExportState(ctx, exportId, {
    from: ["RUNNING", "PLANNING", "CANCELLED"],
    to: "CANCELLED",
    error: options.reason ? `cancelled: ${options.reason}` : undefined,
  });
  // Collect first, then write: updating items while paging through the same range would be fine in DynamoDB, but a
  // plain list keeps the page cursor independent of the writes.
  const pending: number[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await listPartitions(ctx, exportId, { state: "PENDING", limit: 1000, after });
    pending.push(...page.items.map((p) => p.partition));
    if (page.next === null) break;
    after = page.next;
  }
  const done = await mapLimit(pending, DEQUEUE_CONCURRENCY, async (n) => {
    const item = await conditionalUpdate(
      ctx,
      {
        Key: { pk: exportPk(exportId), sk: partitionSk(n) },
        // Only a PENDING partition still on the queue; one claimed meanwhile is its holder's to release (parked).
        ConditionExpression: "#st = :pending AND attribute_exists(gsi1pk)",
        UpdateExpression: "SET updatedAt = :now REMOVE gsi1pk, gsi1sk",
        ExpressionAttributeNames: { "#st": "state" },
        ExpressionAttributeValues: { ":pending": "PENDING", ":now": iso(ctx.clock.now()) },
      },
      `taking partition ${n} of cancelled export ${exportId} off the claim queue`,
    );
    return item ? 1 : 0;
  });
  return { export: record, dequeued: done.reduce((a: number, b: number) => a + b, 0) };
}

export async function retryPartition(
  ctx: StoreContext,
  exportId: string,
  n: number,
  options: { by?: string } = {},
): Promise<PartitionRecord> {
  const what = `retrying partition ${n} of export ${exportId}`;
  const item = await readPartitionItem(ctx, exportId, n);
  if (!item) throw new NotFoundError(exportId, n);
  const p = toPartition(item);
  if (p.state !== "QUARANTINED") throw new PartitionStateError(exportId, n, p.state, "QUARANTINED");
  const rq = requeueUpdate(ctx, p, iso(ctx.clock.now()));
  const outcome = await transact(
    ctx,
    [
      {
        Update: {
          TableName: ctx.table,
          Key: { pk: exportPk(exportId), sk: partitionSk(n) },
          ConditionExpression: "#st = :q AND #ep = :ep",
          UpdateExpression: `SET ${rq.set}, attempts = :zero`,
          ExpressionAttributeNames: { "#st": "state", "#ep": "epoch" },
          ExpressionAttributeValues: { ...rq.values, ":q": "QUARANTINED", ":ep": p.epoch, ":zero": 0 },
        },
      },
      {
        // A cancelled or failed export must not get work back on the queue.
        ConditionCheck: {
          TableName: ctx.table,
          Key: { pk: exportPk(exportId), sk: META },
          ConditionExpression: "#st = :running",
          ExpressionAttributeNames: { "#st": "state" },
          ExpressionAttributeValues: { ":running": "RUNNING" },
        },
      },
      // seq 1: sorts after the "quarantined" event of the same epoch even when both carry the same timestamp.
      ledger(ctx, {
        exportId,
        partition: n,
        kind: "retried",
        node: options.by ?? null,
        epoch: p.epoch,
        seq: 1,
        detail: details.retried(p),
      }),
    ],
    what,
  );
  if (!outcome.ok) {
    if (outcome.reasons[1] === "ConditionalCheckFailed") {
      const exp = await getExportItem(ctx, exportId);
      if (!exp) throw new NotFoundError(exportId, null);
      throw new ExportStateError(exportId, toExport(exp).state, ["RUNNING"]);
    }
    const now = await readPartitionItem(ctx, exportId, n);
    if (!now) throw new NotFoundError(exportId, n);
    throw new PartitionStateError(exportId, n, toPartition(now).state, "QUARANTINED");
  }
  const after = await readPartitionItem(ctx, exportId, n);
  if (!after) throw new NotFoundError(exportId, n);
  return toPartition(after);
}

/**
 * The controller's revoke. The partition is read first because its pool names the resume queue; the write is still
 * conditional on the fence, so a holder that released (or a reaper that ran) between the read and the write wins.
 */
export async function revoke(ctx: StoreContext, fence: LeaseFence, reason: RevokeReason): Promise<boolean> {
  const { exportId, partition: n } = fence;
  const item = await readPartitionItem(ctx, exportId, n);
  if (!item) throw new NotFoundError(exportId, n);
  const p = toPartition(item);
  if (p.state !== "LEASED" || p.owner !== fence.owner || p.epoch !== fence.epoch) return false;
  const rq = requeueUpdate(ctx, p, iso(ctx.clock.now()), { resumeFirst: true });
  const outcome = await transact(
    ctx,
    [
      {
        Update: {
          TableName: ctx.table,
          Key: { pk: exportPk(exportId), sk: partitionSk(n) },
          ConditionExpression: FENCE,
          // Blameless: the holder was taken away, not failed by its partition; the next claim must not count it.
          UpdateExpression: `SET ${rq.set} ${rq.remove}${reason.blameless ? `, ${OPEN_BY}` : ""}`,
          ExpressionAttributeNames: fenceNames,
          ExpressionAttributeValues: { ...fenceValues(fence), ...rq.values },
        },
      },
      ledger(ctx, {
        exportId,
        partition: n,
        kind: "revoked",
        node: reason.by,
        epoch: fence.epoch,
        detail: details.revoked(fence.owner, reason.detail),
        formerOwner: fence.owner,
        interrupted: reason.interrupted,
      }),
    ],
    `revoking the lease of ${fence.owner} on partition ${n} of export ${exportId}`,
  );
  // The only condition is the fence, and a fence once broken never holds again (claims raise the epoch).
  return outcome.ok;
}
