import { createHash, randomBytes } from "node:crypto";
import type { EventKind } from "../../config/records.ts";

/**
 * Every item key of the single state table, for every store (jobs, fleet, schedules); the layout is documented in
 * config/records.ts. Item <-> record mapping lives with each store (lib/jobs/items.ts for jobs).
 */

export type Item = Record<string, unknown>;

export const GSI1 = "gsi1";
/**
 * The table's TTL attribute (epoch seconds): JobStore.expireExport writes it on a finished export's items when the
 * operator set a retention (ControllerSettings.stateRetentionDays). DynamoDB deletes expired items within days.
 */
export const TTL_ATTRIBUTE = "expiresAt";
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

/** The table's layout version (lib/dynamo/layout.ts): one item, read by every process that opens the table. */
export const LAYOUT_PK = "SPOTFERRY#layout";

// Schedule items (controller/store/dynamo-schedule-store.ts): META for the schedule, one item per run.
export const schedulePk = (name: string) => `SCHED#${name}`;
export const runSk = (seq: number) => `RUN#${pad(seq, 8)}`;
export const RUN_PREFIX = "RUN#";
/** Schedules are listed through the GSI (`status` shows them); claimers and reapers never query this key. */
export const SCHEDULES_KEY = "SCHEDULES";

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
