import type { CostHold, ExportRecord } from "../../config/records.ts";
import { ExportStateError, NotFoundError } from "./job-store.ts";
import { exportOut } from "./memory-create.ts";
import { copy, type MemoryContext, nowIso, partitionsOf, partKey } from "./memory-table.ts";
import { FINISHED_STATES } from "./semantics.ts";

/** The spend-cap hold and retention of an export in memory; contracts in job-store.ts, DynamoDB in dynamo-retention.ts. */

export async function setCostHold(ctx: MemoryContext, exportId: string, hold: CostHold | null): Promise<ExportRecord> {
  const stored = ctx.table.exports.get(exportId);
  if (!stored) throw new NotFoundError(exportId, null);
  if (stored.record.state !== "RUNNING") throw new ExportStateError(exportId, stored.record.state, ["RUNNING"]);
  if (hold) stored.record.costHold = copy(hold);
  else delete stored.record.costHold;
  stored.record.updatedAt = nowIso(ctx);
  return exportOut(stored);
}

/** Memory keeps no TTL per item: the count is what DynamoDB would write (record, partitions, chunks, events). */
export async function expireExport(ctx: MemoryContext, exportId: string, expiresAt: number): Promise<{ items: number }> {
  const stored = ctx.table.exports.get(exportId);
  if (!stored) throw new NotFoundError(exportId, null);
  if (!FINISHED_STATES.includes(stored.record.state)) throw new ExportStateError(exportId, stored.record.state, [...FINISHED_STATES]);
  let items = 1;
  for (const p of partitionsOf(ctx, exportId)) {
    const key = partKey(exportId, p.record.partition);
    items += 1 + (ctx.table.chunks.get(key)?.size ?? 0) + (ctx.table.events.get(key)?.length ?? 0);
  }
  stored.record.expiresAt = expiresAt;
  return { items };
}
