import { z } from "zod";
import { exportSpec } from "./export-spec.ts";
import { poolSpec } from "./pool-spec.ts";

/**
 * Shapes of the items in the single DynamoDB state table. Every key value of the source table is carried as its exact
 * decimal or text form (a string), never as a JS number: BIGINT UNSIGNED reaches 2^64-1.
 *
 * Item keys (pk / sk); lib/dynamo/keys.ts builds every one of them, nothing else does:
 *   EXP#<id>             / META                   export
 *   EXP#<id>             / PART#<n:6>             partition (n zero-padded so sk order is partition order)
 *   EXP#<id>#P#<n:6>     / CH#<seq:8>             committed chunk (own item collection: listing partitions never reads chunks)
 *   EXP#<id>#P#<n:6>     / EV#<epoch:8>#<phase>#<seq:8>#<sub>#<iso ts>#<rand>   ledger event, in causal order
 *   POOL#<name>          / META                   pool
 *   POOL#<name>          / NODE#<instanceId>      node
 *   CONTROLLER#leader    / META                   the controller's leader lease (owner, term, expiresAt)
 *   SCHED#<name>         / META                   incremental schedule: watermark, lease, run in flight
 *   SCHED#<name>         / RUN#<seq:8>            one run of a schedule
 *   SPOTFERRY#layout     / META                   the table's layout version (lib/dynamo/layout.ts)
 * Sparse GSI1 (gsi1pk / gsi1sk); queue entries are present only while an item is in that queue:
 *   Q#<pool>#R           / <notBefore>#<id>#<n:6>        resume queue: PENDING partitions handed back mid-way (claimed first)
 *   Q#<pool>#<shard>     / <notBefore>#<id>#<n:6>        PENDING partition, claimable once notBefore has passed
 *   L#<shard>            / <leaseExpiresAt>#<id>#<n:6>   LEASED partition, for the reaper
 *   EXPORTS              / <createdAt>#<id>              every export, newest last
 *   POOLS                / <name>                        every pool
 *   SCHEDULES            / <name>                        every schedule
 */

/** One source key: the exact text of each key column's value, in key-column order. */
export const sourceKey = z.array(z.string());
export type SourceKey = z.infer<typeof sourceKey>;

export const keyColumnType = z.enum(["int", "uint", "decimal", "string", "binary", "date", "datetime", "time"]);
/**
 * A column of the key an export is cut on. `sqlType` is information_schema COLUMN_TYPE ("bigint(20) unsigned",
 * "decimal(20,4)", "datetime(6)"); `collation` is set for string columns. Binary values travel as upper-case hex.
 */
export const keyColumn = z.object({
  name: z.string(),
  type: keyColumnType,
  sqlType: z.string(),
  collation: z.string().optional(),
  charset: z.string().optional(),
});
export type KeyColumn = z.infer<typeof keyColumn>;

export const exportState = z.enum(["PLANNING", "RUNNING", "FINALIZING", "SUCCEEDED", "FAILED", "CANCELLED"]);
export const partitionState = z.enum(["PENDING", "LEASED", "DONE", "QUARANTINED"]);
export const nodeLifecycle = z.enum(["LAUNCHING", "READY", "DRAINING", "INTERRUPTED", "TERMINATED"]);
export const eventKind = z.enum([
  "claimed",
  "checkpointed",
  "released",
  "interrupted",
  "split",
  "failed",
  "reaped",
  "revoked",
  "completed",
  "quarantined",
  "retried",
]);

/**
 * Where the source stood when the export was planned, so change capture (Debezium, Flink CDC, a binlog reader) can
 * continue from it and an incremental schedule can take over (README: "What an export promises"). `binlog` and
 * `gtid` are null, with `reason`, when binary logging is off or the user may not read it.
 */
export const sourcePosition = z.object({
  /** The controller's clock when the position was read (ISO-8601 UTC). */
  takenAt: z.string(),
  /** The server's NOW(6) at that moment, as the schedule's watermark reads it (session time zone +00:00). */
  serverTime: z.string().nullable(),
  flavor: z.enum(["mariadb", "mysql"]),
  version: z.string(),
  /** SHOW BINARY LOG STATUS / SHOW MASTER STATUS: the binary log file and the position in it. */
  binlog: z.object({ file: z.string(), position: z.string() }).nullable(),
  /** MySQL: Executed_Gtid_Set; MariaDB: @@gtid_binlog_pos. Null when empty or unreadable. */
  gtid: z.string().nullable(),
  reason: z.string().optional(),
});
export type SourcePosition = z.infer<typeof sourcePosition>;

/** The spend cap's figures when it stopped an export's launches (USD): spent so far, projected total, the cap. */
export const costHold = z.object({ spentUsd: z.number(), projectedUsd: z.number(), capUsd: z.number(), at: z.string() });
export type CostHold = z.infer<typeof costHold>;

export const exportRecord = z.object({
  exportId: z.string(),
  spec: exportSpec,
  state: exportState,
  keyColumns: z.array(keyColumn),
  /** Key-space bounds at plan time: [low, highWatermark]; rows past the watermark are not part of this export. */
  lowKey: sourceKey.nullable(),
  highWatermark: sourceKey.nullable(),
  /** Partitions ever created (numbers 0..partitionCount-1); splits add to it. */
  partitionCount: z.number().int(),
  /** Rows in the key space at plan time (the planner counts them exactly while it cuts). */
  estimatedRows: z.number(),
  /** Written at finalize; live progress is summed from the partitions (JobStore.progress) to keep this item cold. */
  rowsExported: z.number(),
  bytesExported: z.number(),
  /** Index the planner walked ("PRIMARY" or a unique index name); agents read ranges through the same one. */
  keyIndex: z.string(),
  /** Hash of the plan (key columns, watermark, boundaries): re-planning the same data is recognised as the same plan. */
  planHash: z.string(),
  /** False until every partition has been put on the work queue; a crashed create resumes from there. */
  queued: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
  manifestKey: z.string().optional(),
  error: z.string().optional(),
  /** The source's binary log position and time when planning began; absent on exports planned before it was recorded. */
  sourcePosition: sourcePosition.optional(),
  /** Set by the controller's spend cap (controller/reconcilers/spend-cap.ts): no more launches for it; needs a human. */
  costHold: costHold.optional(),
  /** When DynamoDB may delete the export's items (epoch seconds, the table's TTL attribute); set once it finished. */
  expiresAt: z.number().int().optional(),
});
export type ExportRecord = z.infer<typeof exportRecord>;

export const partitionRecord = z.object({
  exportId: z.string(),
  partition: z.number().int(),
  pool: z.string(),
  /** [lo, hi): null lo is the start of the key space, null hi its end (the high watermark, inclusive). */
  lo: sourceKey.nullable(),
  hi: sourceKey.nullable(),
  /** The last committed source key (inclusive): a new owner resumes at keys strictly greater. Null: nothing committed yet. */
  cursor: sourceKey.nullable(),
  state: partitionState,
  owner: z.string().nullable(),
  epoch: z.number().int(),
  leaseExpiresAt: z.string().nullable(),
  attempts: z.number().int(),
  /** Not claimable before this time (retry backoff); ISO-8601 UTC. */
  notBefore: z.string().nullable(),
  lastError: z.string().nullable(),
  rows: z.number(),
  bytes: z.number(),
  /** Committed chunks; the next checkpoint must carry seq = chunks + 1. */
  chunks: z.number().int(),
  estimatedRows: z.number(),
  /** Partition this one was split from, if any. */
  splitFrom: z.number().int().nullable(),
  updatedAt: z.string(),
});
export type PartitionRecord = z.infer<typeof partitionRecord>;

export const chunkRecord = z.object({
  exportId: z.string(),
  partition: z.number().int(),
  seq: z.number().int(),
  epoch: z.number().int(),
  /** Object key of the chunk in the destination bucket. */
  key: z.string(),
  rows: z.number().int(),
  bytes: z.number().int(),
  /** Hex SHA-256 of the object's bytes. */
  sha256: z.string(),
  /** The first and last source key in the chunk. */
  firstKey: sourceKey,
  lastKey: sourceKey,
  committedAt: z.string(),
});
export type ChunkRecord = z.infer<typeof chunkRecord>;

export const eventRecord = z.object({
  exportId: z.string(),
  partition: z.number().int(),
  at: z.string(),
  kind: eventKind,
  node: z.string().nullable(),
  epoch: z.number().int(),
  detail: z.string().optional(),
  /** "revoked": the node whose lease was taken back; `node` is then the one who took it (the controller). */
  formerOwner: z.string().optional(),
  /** "revoked": the former owner was interrupted or had died, rather than overrunning a drain. */
  interrupted: z.boolean().optional(),
});
export type EventKind = z.infer<typeof eventKind>;
export type PartitionState = z.infer<typeof partitionState>;
export type ExportState = z.infer<typeof exportState>;
export type EventRecord = z.infer<typeof eventRecord>;

/** The launch template version the controller rendered for a pool, and when it must be rendered again. */
export const poolTemplate = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  generation: z.number().int(),
  /** Digest of the spec fields the template is built from: a changed spec renders a new version. */
  specDigest: z.string(),
  renderedAt: z.string(),
  /** Re-render from this time on (half the presigned bundle URL's lifetime), so booting nodes never get a dead URL. */
  refreshAt: z.string(),
});
export type PoolTemplate = z.infer<typeof poolTemplate>;

export const poolRecord = z.object({
  pool: z.string(),
  spec: poolSpec,
  generation: z.number().int(),
  desiredSize: z.number().int(),
  updatedAt: z.string(),
  /** Optimistic-concurrency counter: every controller write to the pool item is conditional on it. */
  version: z.number().int().default(0),
  /** Capacity shortages seen per "market|type|zone", each remembered until the ISO time it maps to. */
  capacityErrors: z.record(z.string(), z.string()).default({}),
  /** Since when spot capacity could not be had (for onDemandFallbackAfter); null while spot launches succeed. */
  spotShortSince: z.string().nullable().default(null),
  template: poolTemplate.nullable().default(null),
  /** When `spotferry rotate` last bumped the generation. */
  rotateRequestedAt: z.string().nullable().default(null),
  /** Running totals for metrics and the CLI. */
  interruptions: z.number().int().default(0),
  replacements: z.number().int().default(0),
  /** Nodes lost (interrupted, boot timeout, retired) whose replacement has not been launched yet. */
  owedReplacements: z.number().int().default(0),
});
export type PoolRecord = z.infer<typeof poolRecord>;

export const nodeRecord = z.object({
  pool: z.string(),
  instanceId: z.string(),
  generation: z.number().int(),
  lifecycle: nodeLifecycle,
  instanceType: z.string(),
  zone: z.string(),
  market: z.enum(["spot", "on-demand"]),
  /** USD per hour at launch. */
  price: z.number(),
  launchedAt: z.string(),
  heartbeatAt: z.string().nullable(),
  currentPartition: z.string().nullable(),
  hostKeyFingerprint: z.string().nullable(),
  terminatedAt: z.string().nullable(),
  reason: z.string().nullable(),
  /** Export the node was launched for (also its spotferry:export tag); cost is attributed to it. */
  exportId: z.string().nullable().default(null),
  /** When the cloud first reported the instance running. */
  readyAt: z.string().nullable().default(null),
  /** Set when rotation picked the node for replacement; it keeps working until its replacement is up. */
  retiringAt: z.string().nullable().default(null),
  /** When draining began (the instance was asked to terminate, which SIGTERMs the agent). */
  drainingAt: z.string().nullable().default(null),
  /** Optimistic-concurrency counter for node writes. */
  version: z.number().int().default(0),
});
export type NodeRecord = z.infer<typeof nodeRecord>;
