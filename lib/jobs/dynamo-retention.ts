import type { CostHold, ExportRecord, ExportState } from "../../config/records.ts";
import { conditionalUpdate, mapLimit, queryAll, type StoreContext } from "../dynamo/access.ts";
import { exportPk, iso, META, partitionLogPk, TTL_ATTRIBUTE } from "../dynamo/keys.ts";
import { getExportItem } from "./dynamo-reads.ts";
import { toExport } from "./items.ts";
import { ExportStateError, NotFoundError } from "./job-store.ts";
import { FINISHED_STATES } from "./semantics.ts";

/** The spend-cap hold and retention (DynamoDB TTL) of an export; contracts in job-store.ts. */

const TTL_CONCURRENCY = 16;

export async function setCostHold(ctx: StoreContext, exportId: string, hold: CostHold | null): Promise<ExportRecord> {
  const item = await conditionalUpdate(
    ctx,
    {
      Key: { pk: exportPk(exportId), sk: META },
      ConditionExpression: "#st = :running",
      UpdateExpression: hold ? "SET costHold = :hold, updatedAt = :now" : "SET updatedAt = :now REMOVE costHold",
      ExpressionAttributeNames: { "#st": "state" },
      ExpressionAttributeValues: { ":running": "RUNNING", ":now": iso(ctx.clock.now()), ...(hold ? { ":hold": hold } : {}) },
    },
    `${hold ? "setting" : "clearing"} the spend-cap hold of export ${exportId}`,
  );
  if (item) return toExport(item);
  const current = await getExportItem(ctx, exportId);
  if (!current) throw new NotFoundError(exportId, null);
  throw new ExportStateError(exportId, current.state as ExportState, ["RUNNING"]);
}

/**
 * Every item of the export gets the TTL attribute: its record and partitions (pk EXP#id) and each partition's chunks
 * and ledger (pk EXP#id#P#n). Each write is conditional on the item existing, so an item DynamoDB already expired is
 * not brought back as a stub. The record is written last, so a crash half way is finished by the next call (the
 * retention reconciler looks for finished exports without `expiresAt`).
 */
export async function expireExport(ctx: StoreContext, exportId: string, expiresAt: number): Promise<{ items: number }> {
  const header = await getExportItem(ctx, exportId);
  if (!header) throw new NotFoundError(exportId, null);
  const record = toExport(header);
  if (!FINISHED_STATES.includes(record.state)) throw new ExportStateError(exportId, record.state, [...FINISHED_STATES]);
  const keysOf = (pk: string) =>
    queryAll(
      ctx,
      { KeyConditionExpression: "pk = :pk", ExpressionAttributeValues: { ":pk": pk }, ProjectionExpression: "pk, sk" },
      `listing the items of export ${exportId} under ${pk}`,
    );
  const own = (await keysOf(exportPk(exportId))).filter((k) => k.sk !== META);
  const logs = await mapLimit(
    Array.from({ length: record.partitionCount }, (_, n) => n),
    TTL_CONCURRENCY,
    (n) => keysOf(partitionLogPk(exportId, n)),
  );
  const keys = [...own, ...logs.flat(), { pk: exportPk(exportId), sk: META }];
  let items = 0;
  // The record goes last: the rest in parallel first.
  const write = async (k: Record<string, unknown>) => {
    const done = await conditionalUpdate(
      ctx,
      {
        Key: { pk: k.pk, sk: k.sk },
        ConditionExpression: "attribute_exists(pk)",
        UpdateExpression: "SET #ttl = :ttl",
        ExpressionAttributeNames: { "#ttl": TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ":ttl": expiresAt },
        ReturnValues: "NONE",
      },
      `writing the expiry of export ${exportId} on ${String(k.pk)} ${String(k.sk)}`,
    );
    if (done) items++;
  };
  await mapLimit(keys.slice(0, -1), TTL_CONCURRENCY, write);
  await write(keys.at(-1) as Record<string, unknown>);
  return { items };
}
