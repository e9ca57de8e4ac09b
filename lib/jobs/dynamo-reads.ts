import type { QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import type { ChunkRecord, EventRecord, ExportRecord, ExportState, PartitionRecord, PartitionState } from "../../config/records.ts";
import { getItem as getConsistent, queryPage, type StoreContext } from "../dynamo/access.ts";
import { chunkSk, EXPORTS_KEY, exportPk, GSI1, type Item, MAX_PARTITION, META, partitionLogPk, partitionSk } from "../dynamo/keys.ts";
import { toChunk, toEvent, toExport, toPartition } from "./items.ts";
import type { ExportProgress, Page, PageOptions, RetryPolicy, StateTotals } from "./job-store.ts";
import { retryPolicyOf } from "./semantics.ts";

/** Read models. Reads used to decide a write are strongly consistent; listings for people are not. */

export function getItem(ctx: StoreContext, pk: string, sk: string, what: string): Promise<Item | null> {
  return getConsistent(ctx, { pk, sk }, what);
}

export async function readPartitionItem(ctx: StoreContext, exportId: string, n: number): Promise<Item | null> {
  return getItem(ctx, exportPk(exportId), partitionSk(n), `reading partition ${n} of export ${exportId}`);
}

export async function getPartition(ctx: StoreContext, exportId: string, n: number): Promise<PartitionRecord | null> {
  const item = await readPartitionItem(ctx, exportId, n);
  return item ? toPartition(item) : null;
}

export async function getExportItem(ctx: StoreContext, exportId: string): Promise<Item | null> {
  return getItem(ctx, exportPk(exportId), META, `reading export ${exportId}`);
}

export async function getExport(ctx: StoreContext, exportId: string): Promise<ExportRecord | null> {
  const item = await getExportItem(ctx, exportId);
  return item ? toExport(item) : null;
}

/** JobStore.retryPolicy: the stored spec's policy, without decoding the rest of the record. */
export async function retryPolicy(ctx: StoreContext, exportId: string): Promise<RetryPolicy | null> {
  const item = await getExportItem(ctx, exportId);
  return item ? retryPolicyOf(item.spec) : null;
}

/** Pages through a query until `limit` items passed the filter or the range is exhausted. */
async function queryUpTo(ctx: StoreContext, input: Omit<QueryCommandInput, "TableName">, limit: number, what: string) {
  const items: Item[] = [];
  let start: Record<string, unknown> | undefined;
  let more = false;
  do {
    const page = await queryPage(ctx, { ...input, Limit: Math.min(1000, limit - items.length + 1), ExclusiveStartKey: start }, what);
    for (const it of page.items) {
      if (items.length === limit) {
        more = true;
        break;
      }
      items.push(it);
    }
    start = page.lastKey;
  } while (start && !more);
  return { items, more };
}

export async function listPartitions(
  ctx: StoreContext,
  exportId: string,
  options: PageOptions & { state?: PartitionState } = {},
): Promise<Page<PartitionRecord>> {
  const limit = options.limit ?? 1000;
  const from = options.after === undefined ? 0 : options.after + 1;
  const { items, more } = await queryUpTo(
    ctx,
    {
      KeyConditionExpression: "pk = :pk AND sk BETWEEN :a AND :b",
      ExpressionAttributeValues: {
        ":pk": exportPk(exportId),
        ":a": partitionSk(from),
        ":b": partitionSk(MAX_PARTITION),
        ...(options.state ? { ":st": options.state } : {}),
      },
      ...(options.state ? { FilterExpression: "#st = :st", ExpressionAttributeNames: { "#st": "state" } } : {}),
    },
    limit,
    `listing partitions of export ${exportId}`,
  );
  const parts = items.map(toPartition);
  return { items: parts, next: more ? (parts.at(-1)?.partition ?? null) : null };
}

/** Every partition of an export, in order. */
export async function allPartitions(ctx: StoreContext, exportId: string): Promise<PartitionRecord[]> {
  const out: PartitionRecord[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await listPartitions(ctx, exportId, { limit: 1000, after });
    out.push(...page.items);
    if (page.next === null) return out;
    after = page.next;
  }
}

export async function listChunks(ctx: StoreContext, exportId: string, n: number, options: PageOptions = {}): Promise<Page<ChunkRecord>> {
  const limit = options.limit ?? 1000;
  const { items, more } = await queryUpTo(
    ctx,
    {
      KeyConditionExpression: "pk = :pk AND sk BETWEEN :a AND :b",
      ExpressionAttributeValues: { ":pk": partitionLogPk(exportId, n), ":a": chunkSk((options.after ?? 0) + 1), ":b": chunkSk(99_999_999) },
    },
    limit,
    `listing chunks of partition ${n} of export ${exportId}`,
  );
  const chunks = items.map(toChunk);
  return { items: chunks, next: more ? (chunks.at(-1)?.seq ?? null) : null };
}

export async function listEvents(
  ctx: StoreContext,
  exportId: string,
  n: number,
  options: { limit?: number; newestFirst?: boolean; cursor?: string } = {},
): Promise<{ items: EventRecord[]; cursor: string | null }> {
  const pk = partitionLogPk(exportId, n);
  const page = await queryPage(
    ctx,
    {
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :ev)",
      ExpressionAttributeValues: { ":pk": pk, ":ev": "EV#" },
      ScanIndexForward: !options.newestFirst,
      Limit: options.limit ?? 100,
      ExclusiveStartKey: options.cursor ? { pk, sk: options.cursor } : undefined,
    },
    `reading the ledger of partition ${n} of export ${exportId}`,
  );
  const last = page.lastKey?.sk;
  return { items: page.items.map(toEvent), cursor: typeof last === "string" ? last : null };
}

export async function listExports(ctx: StoreContext, options: { limit?: number; state?: ExportState } = {}): Promise<ExportRecord[]> {
  const { items } = await queryUpTo(
    ctx,
    {
      IndexName: GSI1,
      KeyConditionExpression: "gsi1pk = :p",
      ExpressionAttributeValues: { ":p": EXPORTS_KEY, ...(options.state ? { ":st": options.state } : {}) },
      ...(options.state ? { FilterExpression: "#st = :st", ExpressionAttributeNames: { "#st": "state" } } : {}),
      ScanIndexForward: false,
    },
    options.limit ?? 100,
    "listing exports",
  );
  return items.map(toExport);
}

const zero = (): StateTotals => ({ partitions: 0, rows: 0, bytes: 0, chunks: 0, estimatedRows: 0 });

export async function progress(ctx: StoreContext, exportId: string): Promise<ExportProgress> {
  const parts = await allPartitions(ctx, exportId);
  const byState = { PENDING: zero(), LEASED: zero(), DONE: zero(), QUARANTINED: zero() };
  const total = zero();
  const owners: Record<string, number> = {};
  for (const p of parts) {
    for (const t of [byState[p.state], total]) {
      t.partitions++;
      t.rows += p.rows;
      t.bytes += p.bytes;
      t.chunks += p.chunks;
      t.estimatedRows += p.estimatedRows;
    }
    if (p.state === "LEASED" && p.owner) owners[p.owner] = (owners[p.owner] ?? 0) + 1;
  }
  return { exportId, byState, total, owners };
}
