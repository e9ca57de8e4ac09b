import type { ExportRecord, PartitionRecord } from "../../config/records.ts";
import { ExportStateError, type LeaseFence, NotFoundError, PartitionStateError, type RevokeReason } from "./job-store.ts";
import { setExportState } from "./memory-create.ts";
import { copy, fenceHolds, ledger, type MemoryContext, nowIso, partitionOf, partitionsOf, requeue, setEntry } from "./memory-table.ts";
import { details } from "./semantics.ts";

/** Operator actions (cancel, retry) and the controller's revoke, in memory; contracts in job-store.ts. */

export async function cancelExport(
  ctx: MemoryContext,
  exportId: string,
  options: { reason?: string } = {},
): Promise<{ export: ExportRecord; dequeued: number }> {
  const record = await setExportState(ctx, exportId, {
    from: ["RUNNING", "PLANNING", "CANCELLED"],
    to: "CANCELLED",
    error: options.reason ? `cancelled: ${options.reason}` : undefined,
  });
  let dequeued = 0;
  // Only a PENDING partition still on a queue; one claimed meanwhile is its holder's to release (parked).
  for (const p of partitionsOf(ctx, exportId)) {
    if (p.record.state !== "PENDING" || !p.entry) continue;
    p.record.updatedAt = nowIso(ctx);
    setEntry(ctx, p, null);
    dequeued++;
  }
  return { export: record, dequeued };
}

export async function retryPartition(
  ctx: MemoryContext,
  exportId: string,
  n: number,
  options: { by?: string } = {},
): Promise<PartitionRecord> {
  const p = partitionOf(ctx, exportId, n);
  if (!p) throw new NotFoundError(exportId, n);
  if (p.record.state !== "QUARANTINED") throw new PartitionStateError(exportId, n, p.record.state, "QUARANTINED");
  // A cancelled or failed export must not get work back on the queue.
  const exp = ctx.table.exports.get(exportId);
  if (!exp) throw new NotFoundError(exportId, null);
  if (exp.record.state !== "RUNNING") throw new ExportStateError(exportId, exp.record.state, ["RUNNING"]);
  const detail = details.retried(p.record);
  requeue(ctx, p, nowIso(ctx));
  p.record.attempts = 0;
  // seq 1: sorts after the "quarantined" event of the same epoch even when both carry the same timestamp.
  ledger(ctx, { exportId, partition: n, kind: "retried", node: options.by ?? null, epoch: p.record.epoch, seq: 1, detail });
  return copy(p.record);
}

export async function revoke(ctx: MemoryContext, fence: LeaseFence, reason: RevokeReason): Promise<boolean> {
  const p = partitionOf(ctx, fence.exportId, fence.partition);
  if (!p) throw new NotFoundError(fence.exportId, fence.partition);
  if (!fenceHolds(p.record, fence)) return false;
  requeue(ctx, p, nowIso(ctx), { resumeFirst: true });
  // Blameless: the holder was taken away, not failed by its partition; the next claim must not count it.
  if (reason.blameless) delete p.openBy;
  ledger(ctx, {
    exportId: fence.exportId,
    partition: fence.partition,
    kind: "revoked",
    node: reason.by,
    epoch: fence.epoch,
    detail: details.revoked(fence.owner, reason.detail),
    formerOwner: fence.owner,
    interrupted: reason.interrupted,
  });
  return true;
}
