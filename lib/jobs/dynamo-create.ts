import type { ExportRecord } from "../../config/records.ts";
import { conditionalPut, conditionalUpdate, deleteIf, mapLimit, type StoreContext } from "../dynamo/access.ts";
import {
  digest,
  EXPORTS_KEY,
  exportPk,
  type Item,
  iso,
  MAX_PARTITION,
  META,
  partitionSk,
  queuePk,
  queueSk,
  shardOf,
} from "../dynamo/keys.ts";
import { allPartitions, getExportItem } from "./dynamo-reads.ts";
import { newPartitionItem, toExport } from "./items.ts";
import {
  type CreateExportResult,
  ExportConflictError,
  type ExportStateChange,
  ExportStateError,
  type NewExport,
  NotFoundError,
} from "./job-store.ts";

const WRITE_CONCURRENCY = 16;

/**
 * Creates an export in three idempotent steps so a crash anywhere leaves something the next call completes:
 *   1. the META item (PLANNING) and every partition item, unqueued: claimers cannot see a half-written plan;
 *   2. META PLANNING -> RUNNING, the commit point: from here the plan is frozen;
 *   3. every partition put on the work queue, then META.queued = true.
 * A PLANNING export whose plan differs (a crashed create, then the data changed) is replaced before step 2.
 */
export async function createExport(ctx: StoreContext, input: NewExport): Promise<CreateExportResult> {
  const id = input.exportId;
  const what = `creating export ${id}`;
  if (input.partitions.length > MAX_PARTITION) throw new Error(`${what}: ${input.partitions.length} partitions is too many`);
  const plan = newExportPlan(ctx, input);

  if (!(await conditionalPut(ctx, { Item: plan.meta, ConditionExpression: "attribute_not_exists(pk)" }, what))) {
    const existing = await getExportItem(ctx, id);
    if (!existing) throw new Error(`${what}: it vanished while being created; retry`);
    const settled = await resumeExisting(ctx, existing, plan);
    if (settled) return settled;
  }
  await writePartitions(ctx, input, plan, what);
  return commitPlan(ctx, id, plan, what);
}

/** The export's META item as step 1 writes it, with the hashes later steps compare against. */
interface ExportPlan {
  meta: Item;
  specHash: string;
  planHash: string;
  /** One timestamp for the header and every partition item. */
  now: string;
}

function newExportPlan(ctx: StoreContext, input: NewExport): ExportPlan {
  const id = input.exportId;
  const specHash = digest(input.spec);
  const planHash = digest({
    keyColumns: input.keyColumns,
    keyIndex: input.keyIndex,
    lowKey: input.lowKey,
    highWatermark: input.highWatermark,
    partitions: input.partitions,
  });
  const now = iso(ctx.clock.now());
  const meta: Item = {
    pk: exportPk(id),
    sk: META,
    type: "EXPORT",
    exportId: id,
    spec: input.spec,
    specHash,
    state: "PLANNING",
    keyColumns: input.keyColumns,
    keyIndex: input.keyIndex,
    lowKey: input.lowKey,
    highWatermark: input.highWatermark,
    partitionCount: input.partitions.length,
    estimatedRows: input.partitions.reduce((s, p) => s + p.estimatedRows, 0),
    rowsExported: 0,
    bytesExported: 0,
    planHash,
    queued: false,
    createdAt: now,
    updatedAt: now,
    gsi1pk: EXPORTS_KEY,
    gsi1sk: `${now}#${id}`,
    ...(input.sourcePosition ? { sourcePosition: input.sourcePosition } : {}),
  };
  return { meta, specHash, planHash, now };
}

/**
 * A header was there already. Past PLANNING, the export is answered as it stands (finishing step 3 if a crash cut it
 * short); still PLANNING, creation carries on from step 1, over a replaced plan if this one differs. Null: carry on.
 */
async function resumeExisting(ctx: StoreContext, existing: Item, plan: ExportPlan): Promise<CreateExportResult | null> {
  const id = plan.meta.exportId as string;
  if (existing.specHash !== plan.specHash) throw new ExportConflictError(id);
  if (existing.state !== "PLANNING") {
    if (existing.queued !== true) await enqueueAll(ctx, id);
    const record = existing.queued === true ? toExport(existing) : toExport((await getExportItem(ctx, id)) ?? existing);
    return { export: record, created: false, planDiffers: existing.planHash !== plan.planHash };
  }
  if (existing.planHash !== plan.planHash) await replacePlan(ctx, existing, plan.meta);
  return null;
}

async function writePartitions(ctx: StoreContext, input: NewExport, plan: ExportPlan, what: string): Promise<void> {
  const { planHash, now } = plan;
  const partitions = input.partitions.map((p, n) =>
    newPartitionItem({
      exportId: input.exportId,
      partition: n,
      pool: input.spec.pool,
      lo: p.lo,
      hi: p.hi,
      estimatedRows: p.estimatedRows,
      now,
      shards: ctx.shards,
      planHash,
      queued: false,
    }),
  );
  await mapLimit(partitions, WRITE_CONCURRENCY, async (item) => {
    const written = await conditionalPut(
      ctx,
      {
        Item: item,
        // Rewriting an identical item of the same plan is harmless while the export is PLANNING (nothing claims it).
        ConditionExpression: "attribute_not_exists(pk) OR planHash = :h",
        ExpressionAttributeValues: { ":h": planHash },
      },
      `${what}: writing partition ${item.partition}`,
    );
    if (!written) throw new Error(`${what}: writing partition ${item.partition}: a partition of another plan is in the way; retry`);
  });
}

/** Steps 2 and 3: PLANNING -> RUNNING for this plan, then the queue. */
async function commitPlan(ctx: StoreContext, id: string, plan: ExportPlan, what: string): Promise<CreateExportResult> {
  const { planHash, now } = plan;
  const running = await conditionalUpdate(
    ctx,
    {
      Key: { pk: exportPk(id), sk: META },
      ConditionExpression: "#st = :planning AND planHash = :h",
      UpdateExpression: "SET #st = :running, updatedAt = :now",
      ExpressionAttributeNames: { "#st": "state" },
      ExpressionAttributeValues: { ":planning": "PLANNING", ":running": "RUNNING", ":h": planHash, ":now": now },
    },
    what,
  );
  if (!running) {
    // Another create of the same export committed first (or replaced our plan): report what is there.
    const now2 = await getExportItem(ctx, id);
    if (!now2 || now2.state === "PLANNING") throw new Error(`${what}: another planner is creating it concurrently; retry`);
    if (now2.queued !== true) await enqueueAll(ctx, id);
    return { export: toExport((await getExportItem(ctx, id)) ?? now2), created: false, planDiffers: now2.planHash !== planHash };
  }
  await enqueueAll(ctx, id);
  const record = await getExportItem(ctx, id);
  if (!record) throw new Error(`${what}: it vanished after being created`);
  return { export: toExport(record), created: true, planDiffers: false };
}

/** Takes over a PLANNING export left by a crashed create with another plan: new header, old partitions deleted. */
async function replacePlan(ctx: StoreContext, existing: Item, meta: Item): Promise<void> {
  const id = meta.exportId as string;
  const what = `replacing the unfinished plan of export ${id}`;
  const updated = await conditionalUpdate(
    ctx,
    {
      Key: { pk: exportPk(id), sk: META },
      ConditionExpression: "#st = :planning AND planHash = :old",
      UpdateExpression:
        "SET planHash = :h, keyColumns = :kc, keyIndex = :ki, lowKey = :lo, highWatermark = :hw, partitionCount = :pc, estimatedRows = :er, updatedAt = :now",
      ExpressionAttributeNames: { "#st": "state" },
      ExpressionAttributeValues: {
        ":planning": "PLANNING",
        ":old": existing.planHash,
        ":h": meta.planHash,
        ":kc": meta.keyColumns,
        ":ki": meta.keyIndex,
        ":lo": meta.lowKey,
        ":hw": meta.highWatermark,
        ":pc": meta.partitionCount,
        ":er": meta.estimatedRows,
        ":now": meta.updatedAt,
      },
    },
    what,
  );
  if (!updated) throw new Error(`${what}: another planner changed it concurrently; retry`);
  const old = await allPartitions(ctx, id);
  await mapLimit(old, WRITE_CONCURRENCY, (p) =>
    deleteIf(
      ctx,
      {
        Key: { pk: exportPk(id), sk: partitionSk(p.partition) },
        ConditionExpression: "planHash = :old AND #st = :pending AND epoch = :zero",
        ExpressionAttributeNames: { "#st": "state" },
        ExpressionAttributeValues: { ":old": existing.planHash, ":pending": "PENDING", ":zero": 0 },
      },
      `${what}: deleting partition ${p.partition}`,
    ),
  );
}

/** Puts every never-claimed, unqueued partition on the queue (idempotent), then marks the export queued. */
async function enqueueAll(ctx: StoreContext, exportId: string): Promise<void> {
  const what = `queueing the partitions of export ${exportId}`;
  const parts = await allPartitions(ctx, exportId);
  await mapLimit(parts, WRITE_CONCURRENCY, async (p) => {
    if (p.state !== "PENDING" || p.epoch !== 0) return;
    const notBefore = p.notBefore ?? iso(ctx.clock.now());
    await conditionalUpdate(
      ctx,
      {
        Key: { pk: exportPk(exportId), sk: partitionSk(p.partition) },
        ConditionExpression: "#st = :pending AND epoch = :zero AND attribute_not_exists(gsi1pk)",
        UpdateExpression: "SET gsi1pk = :qp, gsi1sk = :qs",
        ExpressionAttributeNames: { "#st": "state" },
        ExpressionAttributeValues: {
          ":pending": "PENDING",
          ":zero": 0,
          ":qp": queuePk(p.pool, shardOf(exportId, p.partition, ctx.shards)),
          ":qs": queueSk(notBefore, exportId, p.partition),
        },
        ReturnValues: "NONE",
      },
      `${what}: partition ${p.partition}`,
    );
  });
  await conditionalUpdate(
    ctx,
    {
      Key: { pk: exportPk(exportId), sk: META },
      ConditionExpression: "attribute_exists(pk)",
      UpdateExpression: "SET queued = :t",
      ExpressionAttributeValues: { ":t": true },
      ReturnValues: "NONE",
    },
    what,
  );
}

export async function setExportState(ctx: StoreContext, exportId: string, change: ExportStateChange): Promise<ExportRecord> {
  const fields: Record<string, unknown> = {
    error: change.error,
    manifestKey: change.manifestKey,
    rowsExported: change.rowsExported,
    bytesExported: change.bytesExported,
  };
  const sets = Object.entries(fields).filter(([, v]) => v !== undefined);
  const from = Object.fromEntries(change.from.map((s, i) => [`:from${i}`, s]));
  const item = await conditionalUpdate(
    ctx,
    {
      Key: { pk: exportPk(exportId), sk: META },
      ConditionExpression: `#st IN (${Object.keys(from).join(", ")})`,
      // Field names go through placeholders: "error" is a DynamoDB reserved word.
      UpdateExpression: `SET #st = :to, updatedAt = :now${sets.map(([k]) => `, #${k} = :${k}`).join("")}`,
      ExpressionAttributeNames: { "#st": "state", ...Object.fromEntries(sets.map(([k]) => [`#${k}`, k])) },
      ExpressionAttributeValues: {
        ...from,
        ":to": change.to,
        ":now": iso(ctx.clock.now()),
        ...Object.fromEntries(sets.map(([k, v]) => [`:${k}`, v])),
      },
    },
    `moving export ${exportId} to ${change.to}`,
  );
  if (item) return toExport(item);
  const current = await getExportItem(ctx, exportId);
  if (!current) throw new NotFoundError(exportId, null);
  throw new ExportStateError(exportId, current.state as ExportRecord["state"], change.from);
}
