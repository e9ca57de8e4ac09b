import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  type DeleteCommandInput,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type PutCommandInput,
  paginateQuery,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import type { Clock } from "../clock.ts";
import type { Item } from "./keys.ts";

/**
 * The one way every store reaches DynamoDB: conditional writes that tell a failed condition (an expected answer, null
 * or false) from a transient conflict with another transaction (retried after a jittered pause, since a conflict
 * means "not applied"), transactions with an idempotency token, consistent reads, and one paginator. Throttling and
 * network errors are retried by the SDK itself (maxAttempts in the client); anything else is thrown wrapped in what
 * was being done.
 */

/** Request counters, so the benchmark can report conditional writes per committed chunk. */
export interface StoreStats {
  /** Conditional UpdateItem / PutItem / DeleteItem requests. */
  conditionalWrites: number;
  /** TransactWriteItems requests (each is one conditional write request of several items). */
  transactions: number;
  /** Items written by transactions. */
  transactionItems: number;
  /** Attempts repeated because another transaction touched the same item. */
  conflictRetries: number;
  reads: number;
}

export interface DynamoContext {
  doc: DynamoDBDocumentClient;
  table: string;
  clock: Clock;
  stats: StoreStats;
}

export interface StoreContext extends DynamoContext {
  shards: number;
}

export const emptyStats = (): StoreStats => ({ conditionalWrites: 0, transactions: 0, transactionItems: 0, conflictRetries: 0, reads: 0 });

/** A context over `tableName`: the document client every store uses (undefined attributes dropped, exact numbers kept). */
export function dynamoContext(deps: { client: DynamoDBClient; tableName: string; clock: Clock }): DynamoContext {
  const doc = DynamoDBDocumentClient.from(deps.client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
  return { doc, table: deps.tableName, clock: deps.clock, stats: emptyStats() };
}

export type TxItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];

export type TxOutcome = { ok: true } | { ok: false; reasons: (string | undefined)[] };

const MAX_CONFLICT_RETRIES = 8;
const pause = (attempt: number) => delay(5 + Math.random() * 20 * (attempt + 1));

const errName = (err: unknown) => (err as { name?: string } | null)?.name;

/**
 * Runs one TransactWriteItems. A failed condition is an expected outcome (`ok: false` with the per-item reasons, in
 * item order); conflicts with another in-flight transaction are retried after a short jittered pause, because a
 * conflict means "not applied", never "applied". Each request carries a fresh idempotency token so the SDK's own
 * retries of a request whose answer was lost cannot apply it twice.
 */
export async function transact(ctx: DynamoContext, items: TxItem[], what: string): Promise<TxOutcome> {
  for (let attempt = 0; ; attempt++) {
    try {
      ctx.stats.transactions++;
      ctx.stats.transactionItems += items.length;
      await ctx.doc.send(new TransactWriteCommand({ TransactItems: items, ClientRequestToken: randomUUID() }));
      return { ok: true };
    } catch (err) {
      const reasons = (err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons?.map((r) => r.Code);
      const conflict =
        errName(err) === "TransactionConflictException" ||
        (errName(err) === "TransactionCanceledException" && reasons?.includes("TransactionConflict"));
      if (errName(err) === "TransactionCanceledException" && reasons && !conflict) return { ok: false, reasons };
      if (conflict && attempt < MAX_CONFLICT_RETRIES) {
        ctx.stats.conflictRetries++;
        await pause(attempt);
        continue;
      }
      throw new Error(what, { cause: err });
    }
  }
}

/**
 * A conditional UpdateItem returning the new item (an empty object with ReturnValues NONE), or null when its condition
 * failed. Conflicts with transactions are retried.
 */
export async function conditionalUpdate(
  ctx: DynamoContext,
  input: Omit<UpdateCommandInput, "TableName">,
  what: string,
): Promise<Item | null> {
  for (let attempt = 0; ; attempt++) {
    try {
      ctx.stats.conditionalWrites++;
      const out = await ctx.doc.send(new UpdateCommand({ TableName: ctx.table, ReturnValues: "ALL_NEW", ...input }));
      return (out.Attributes as Item | undefined) ?? {};
    } catch (err) {
      if (errName(err) === "ConditionalCheckFailedException") return null;
      if (errName(err) === "TransactionConflictException" && attempt < MAX_CONFLICT_RETRIES) {
        ctx.stats.conflictRetries++;
        await pause(attempt);
        continue;
      }
      throw new Error(what, { cause: err });
    }
  }
}

export const isConditionFailure = (err: unknown) => errName(err) === "ConditionalCheckFailedException";

/** A PutItem under a condition: false when the condition failed (the item exists, say), true when written. */
export async function conditionalPut(ctx: DynamoContext, input: Omit<PutCommandInput, "TableName">, what: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      ctx.stats.conditionalWrites++;
      await ctx.doc.send(new PutCommand({ TableName: ctx.table, ...input }));
      return true;
    } catch (err) {
      if (errName(err) === "ConditionalCheckFailedException") return false;
      if (errName(err) === "TransactionConflictException" && attempt < MAX_CONFLICT_RETRIES) {
        ctx.stats.conflictRetries++;
        await pause(attempt);
        continue;
      }
      throw new Error(what, { cause: err });
    }
  }
}

/** A strongly consistent GetItem; null when there is no such item. */
export async function getItem(ctx: DynamoContext, key: { pk: string; sk: string }, what: string): Promise<Item | null> {
  ctx.stats.reads++;
  const out = await ctx.doc.send(new GetCommand({ TableName: ctx.table, Key: key, ConsistentRead: true })).catch((cause) => {
    throw new Error(what, { cause });
  });
  return (out.Item as Item | undefined) ?? null;
}

/** A DeleteItem under a condition: false when the condition failed. */
export async function deleteIf(ctx: DynamoContext, input: Omit<DeleteCommandInput, "TableName">, what: string): Promise<boolean> {
  try {
    ctx.stats.conditionalWrites++;
    await ctx.doc.send(new DeleteCommand({ TableName: ctx.table, ...input }));
    return true;
  } catch (err) {
    if (errName(err) === "ConditionalCheckFailedException") return false;
    throw new Error(what, { cause: err });
  }
}

/** One page of a Query, for callers that hand a cursor to their own callers (or stop after the first page). */
export async function queryPage(
  ctx: DynamoContext,
  input: Omit<QueryCommandInput, "TableName">,
  what: string,
): Promise<{ items: Item[]; lastKey: Record<string, unknown> | undefined }> {
  ctx.stats.reads++;
  const out = await ctx.doc.send(new QueryCommand({ TableName: ctx.table, ...input })).catch((cause) => {
    throw new Error(what, { cause });
  });
  return { items: (out.Items ?? []) as Item[], lastKey: out.LastEvaluatedKey };
}

/**
 * Every item a Query returns, page after page (the SDK's paginator), up to `limit` items when given. Queries of the
 * table itself read consistently unless told otherwise; index queries cannot.
 */
export async function queryAll(
  ctx: DynamoContext,
  input: Omit<QueryCommandInput, "TableName" | "ExclusiveStartKey">,
  what: string,
  limit = Number.POSITIVE_INFINITY,
): Promise<Item[]> {
  const out: Item[] = [];
  const request = { TableName: ctx.table, ConsistentRead: input.IndexName ? undefined : true, ...input };
  try {
    for await (const page of paginateQuery({ client: ctx.doc }, request)) {
      ctx.stats.reads++;
      for (const item of page.Items ?? []) {
        if (out.length >= limit) return out;
        out.push(item as Item);
      }
      if (out.length >= limit) return out;
    }
  } catch (cause) {
    throw new Error(what, { cause });
  }
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
