import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import type { Clock } from "../../lib/clock.ts";
import type { Item } from "./dynamo-keys.ts";

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

export interface StoreContext {
  doc: DynamoDBDocumentClient;
  table: string;
  clock: Clock;
  shards: number;
  stats: StoreStats;
}

export type TxItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];

export type TxOutcome = { ok: true } | { ok: false; reasons: (string | undefined)[] };

const MAX_CONFLICT_RETRIES = 8;

const errName = (err: unknown) => (err as { name?: string } | null)?.name;

/**
 * Runs one TransactWriteItems. A failed condition is an expected outcome (`ok: false` with the per-item reasons, in
 * item order); conflicts with another in-flight transaction are retried after a short jittered pause, because a
 * conflict means "not applied", never "applied". Each request carries a fresh idempotency token so the SDK's own
 * retries of a request whose answer was lost cannot apply it twice.
 */
export async function transact(ctx: StoreContext, items: TxItem[], what: string): Promise<TxOutcome> {
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
        await delay(5 + Math.random() * 20 * (attempt + 1));
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
  ctx: StoreContext,
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
        await delay(5 + Math.random() * 20 * (attempt + 1));
        continue;
      }
      throw new Error(what, { cause: err });
    }
  }
}

export const isConditionFailure = (err: unknown) => errName(err) === "ConditionalCheckFailedException";

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
