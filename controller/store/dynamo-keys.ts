import { createHash, randomBytes } from "node:crypto";
import type { ChunkRecord, EventKind, EventRecord, ExportRecord, PartitionRecord, SourceKey } from "../../config/records.ts";
import { exportRecord } from "../../config/records.ts";
import type { Lease } from "./job-store.ts";

/**
 * Item keys and item <-> record mapping for the single state table (layout documented in config/records.ts).
 * Source keys on partition items are stored as JSON text so conditions can compare them for equality
 * ("hi is still what the holder read") and no digit is ever parsed into a JS number.
 */

export type Item = Record<string, unknown>;

export const GSI1 = "gsi1";
export const EXPORTS_KEY = "EXPORTS";
/** Largest partition number the zero-padded sort key keeps in order. */
export const MAX_PARTITION = 999_999;

const pad = (n: number, width: number) => String(n).padStart(width, "0");

export const exportPk = (exportId: string) => `EXP#${exportId}`;
export const META = "META";
export const partitionSk = (n: number) => `PART#${pad(n, 6)}`;
export const partitionLogPk = (exportId: string, n: number) => `EXP#${exportId}#P#${pad(n, 6)}`;
export const chunkSk = (seq: number) => `CH#${pad(seq, 8)}`;
/**
 * Ledger events sort causally, not by wall clock (writers' clocks differ, and a fake clock stands still): by epoch,
 * then claim < progress (checkpoints and splits in chunk order) < the event that ended the epoch.
 */
export function eventSk(kind: EventKind, epoch: number, seq: number, at: string): string {
  const phase = kind === "claimed" ? 0 : kind === "checkpointed" || kind === "split" ? 1 : 2;
  const sub = kind === "split" ? 1 : 0;
  return `EV#${pad(epoch, 8)}#${phase}#${pad(seq, 8)}#${sub}#${at}#${randomBytes(3).toString("hex")}`;
}

/** Queue shard of a partition: a stable hash so re-queueing lands in the same shard. */
export function shardOf(exportId: string, partition: number, shards: number): number {
  return createHash("sha1").update(`${exportId}#${partition}`).digest().readUInt32BE(0) % shards;
}
export const queuePk = (pool: string, shard: number) => `Q#${pool}#${shard}`;
/** The pool's resume queue: partitions handed back mid-way (released, reaped), claimed before the sharded queue. */
export const resumePk = (pool: string) => `Q#${pool}#R`;
export const queueSk = (notBefore: string, exportId: string, n: number) => `${notBefore}#${exportId}#${pad(n, 6)}`;
export const leasePk = (shard: number) => `L#${shard}`;
export const leaseSk = (expiresAt: string, exportId: string, n: number) => `${expiresAt}#${exportId}#${pad(n, 6)}`;

// Fleet items (controller/store/dynamo-fleet-store.ts): a pool and its nodes share one partition key.
export const poolPk = (name: string) => `POOL#${name}`;
export const nodeSk = (instanceId: string) => `NODE#${instanceId}`;
/** Pools are listed through the GSI like exports are, so listing never scans the table. */
export const POOLS_KEY = "POOLS";
/** The controller's leader lease: one item for the whole table. */
export const LEADER_PK = "CONTROLLER#leader";

// Schedule items (controller/store/dynamo-schedule-store.ts): META for the schedule, one item per run.
export const schedulePk = (name: string) => `SCHED#${name}`;
export const runSk = (seq: number) => `RUN#${pad(seq, 8)}`;
export const RUN_PREFIX = "RUN#";
/** Schedules are listed through the GSI (`status` shows them); claimers and reapers never query this key. */
export const SCHEDULES_KEY = "SCHEDULES";

export const encodeKey = (key: SourceKey | null): string => JSON.stringify(key);
export function decodeKey(text: unknown): SourceKey | null {
  if (typeof text !== "string") return null;
  const v = JSON.parse(text) as unknown;
  if (v === null) return null;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error(`malformed source key in state table: ${text}`);
  return v as SourceKey;
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** A stable digest of a JSON-able value (object keys sorted), for plan and spec identity. */
export function digest(value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v && typeof v === "object") {
      return Object.fromEntries(
        Object.keys(v as object)
          .sort()
          .filter((k) => (v as Item)[k] !== undefined)
          .map((k) => [k, canonical((v as Item)[k])]),
      );
    }
    return v;
  };
  return createHash("sha256")
    .update(JSON.stringify(canonical(value)))
    .digest("hex");
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number => (typeof v === "number" ? v : 0);

export function toPartition(item: Item): PartitionRecord {
  return {
    exportId: item.exportId as string,
    partition: item.partition as number,
    pool: item.pool as string,
    lo: decodeKey(item.lo),
    hi: decodeKey(item.hi),
    cursor: decodeKey(item.cursor),
    state: item.state as PartitionRecord["state"],
    owner: str(item.owner),
    epoch: num(item.epoch),
    leaseExpiresAt: str(item.leaseExpiresAt),
    attempts: num(item.attempts),
    notBefore: str(item.notBefore),
    lastError: str(item.lastError),
    rows: num(item.rows),
    bytes: num(item.bytes),
    chunks: num(item.chunks),
    estimatedRows: num(item.estimatedRows),
    splitFrom: typeof item.splitFrom === "number" ? item.splitFrom : null,
    updatedAt: item.updatedAt as string,
  };
}

export function toLease(p: PartitionRecord): Lease {
  if (p.state !== "LEASED" || p.owner === null || p.leaseExpiresAt === null) {
    throw new Error(`partition ${p.partition} of export ${p.exportId} is ${p.state}, not a lease`);
  }
  return {
    exportId: p.exportId,
    partition: p.partition,
    pool: p.pool,
    owner: p.owner,
    epoch: p.epoch,
    leaseExpiresAt: p.leaseExpiresAt,
    lo: p.lo,
    hi: p.hi,
    cursor: p.cursor,
    chunks: p.chunks,
    rows: p.rows,
    bytes: p.bytes,
    attempts: p.attempts,
  };
}

/** A new PENDING partition item, queued when `queued` (plans write unqueued items first; see createExport). */
export function newPartitionItem(args: {
  exportId: string;
  partition: number;
  pool: string;
  lo: SourceKey | null;
  hi: SourceKey | null;
  estimatedRows: number;
  now: string;
  shards: number;
  planHash: string;
  queued: boolean;
  splitFrom?: number;
}): Item {
  const shard = shardOf(args.exportId, args.partition, args.shards);
  return {
    pk: exportPk(args.exportId),
    sk: partitionSk(args.partition),
    type: "PART",
    exportId: args.exportId,
    partition: args.partition,
    pool: args.pool,
    lo: encodeKey(args.lo),
    hi: encodeKey(args.hi),
    cursor: encodeKey(null),
    state: "PENDING",
    epoch: 0,
    attempts: 0,
    notBefore: args.now,
    rows: 0,
    bytes: 0,
    chunks: 0,
    estimatedRows: args.estimatedRows,
    splitFrom: args.splitFrom,
    updatedAt: args.now,
    shard,
    planHash: args.planHash,
    ...(args.queued ? { gsi1pk: queuePk(args.pool, shard), gsi1sk: queueSk(args.now, args.exportId, args.partition) } : {}),
  };
}

export function toExport(item: Item): ExportRecord {
  const { pk: _pk, sk: _sk, type: _t, gsi1pk: _g, gsi1sk: _s, specHash: _h, ...rest } = item;
  return exportRecord.parse(rest);
}

export function toChunk(item: Item): ChunkRecord {
  return {
    exportId: item.exportId as string,
    partition: item.partition as number,
    seq: item.seq as number,
    epoch: item.epoch as number,
    key: item.key as string,
    rows: item.rows as number,
    bytes: item.bytes as number,
    sha256: item.sha256 as string,
    firstKey: decodeKey(item.firstKey) ?? [],
    lastKey: decodeKey(item.lastKey) ?? [],
    committedAt: item.committedAt as string,
  };
}

/** `seq`: the chunk a checkpoint commits, or the chunks committed when a split happened. */
export function eventItem(e: EventRecord, seq = 0): Item {
  return {
    pk: partitionLogPk(e.exportId, e.partition),
    sk: eventSk(e.kind, e.epoch, seq, e.at),
    type: "EVENT",
    ...e,
    node: e.node ?? undefined,
  };
}

export function toEvent(item: Item): EventRecord {
  return {
    exportId: item.exportId as string,
    partition: item.partition as number,
    at: item.at as string,
    kind: item.kind as EventRecord["kind"],
    node: str(item.node),
    epoch: num(item.epoch),
    ...(typeof item.detail === "string" ? { detail: item.detail } : {}),
  };
}
