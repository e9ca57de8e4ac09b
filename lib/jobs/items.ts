import type { ExportSpec } from "../../config/export-spec.ts";
import { exportSpec } from "../../config/export-spec.ts";
import type { ChunkRecord, EventRecord, ExportRecord, PartitionRecord, SourceKey } from "../../config/records.ts";
import { exportRecord } from "../../config/records.ts";
import { eventSk, exportPk, type Item, partitionLogPk, partitionSk, queuePk, queueSk, shardOf } from "../dynamo/keys.ts";
import type { Lease } from "./job-store.ts";

/**
 * Job items <-> records: partitions, exports, chunks and ledger events as the state table holds them (keys from
 * lib/dynamo/keys.ts, the layout in config/records.ts). Source keys on partition items are stored as JSON text so
 * conditions can compare them for equality ("hi is still what the holder read") and no digit is ever parsed into a
 * JS number.
 */

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number => (typeof v === "number" ? v : 0);

export const encodeKey = (key: SourceKey | null): string => JSON.stringify(key);
export function decodeKey(text: unknown): SourceKey | null {
  if (typeof text !== "string") return null;
  const v = JSON.parse(text) as unknown;
  if (v === null) return null;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error(`malformed source key in state table: ${text}`);
  return v as SourceKey;
}

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

/**
 * The export's record. Its spec is validated once per process for each stored text of it: reconcilers and the status
 * views read each export many times a second, and validating the spec (its CA bundle parsed as X.509 included) was the
 * controller's largest CPU cost during a run (~1.3 of its 3.7 CPU s on 5 M rows). Keyed by the stored spec itself, not
 * its hash, so a record changed in place (an older planner's, a hand edit) is validated again.
 */
export function toExport(item: Item): ExportRecord {
  const { pk: _pk, sk: _sk, type: _t, gsi1pk: _g, gsi1sk: _s, specHash: _h, spec, ...rest } = item;
  const key = JSON.stringify(spec);
  let parsed = specs.get(key);
  if (parsed === undefined) {
    parsed = exportSpec.parse(spec);
    if (specs.size >= SPEC_CACHE) specs.delete(specs.keys().next().value as string);
    specs.set(key, parsed);
  }
  const { exportId, ...record } = exportRecordWithoutSpec.parse(rest);
  // The schema's key order (exportId, spec, ...), as exportRecord.parse gave it: JSON views print it. A copy: callers
  // may adjust what they were given, and the cached spec must stay what was stored.
  return { exportId, spec: structuredClone(parsed), ...record };
}
const exportRecordWithoutSpec = exportRecord.omit({ spec: true });
const specs = new Map<string, ExportSpec>();
const SPEC_CACHE = 256;

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
    ...(typeof item.formerOwner === "string" ? { formerOwner: item.formerOwner } : {}),
    ...(typeof item.interrupted === "boolean" ? { interrupted: item.interrupted } : {}),
  };
}
