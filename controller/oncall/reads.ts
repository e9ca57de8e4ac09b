import type { EventRecord, ExportRecord, NodeRecord, PartitionRecord, PoolRecord } from "../../config/records.ts";
import { mapLimit } from "../../lib/dynamo/access.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import type { FleetStore } from "../store/fleet-store.ts";

/**
 * The reads behind every on-call view, shaped so 10,000 partitions answer in about a second: partitions are read in
 * parallel segments (a single Query walks 1 MB pages one after another), and the ledger is read only for LEASED
 * partitions (bounded by the number of nodes), which is where rates and liveness come from.
 */

const SEGMENT = 2000;
const PARALLEL = 8;

/** Every partition of an export, in partition order, read as parallel segments of the partition-number range. */
export async function readPartitions(jobs: JobStore, exp: ExportRecord): Promise<PartitionRecord[]> {
  const segments = Math.max(1, Math.ceil(exp.partitionCount / SEGMENT));
  const parts = await mapLimit(
    Array.from({ length: segments }, (_, i) => i),
    PARALLEL,
    async (i) => {
      const start = i * SEGMENT;
      const end = i === segments - 1 ? Number.POSITIVE_INFINITY : start + SEGMENT;
      const out: PartitionRecord[] = [];
      let after = start === 0 ? undefined : start - 1;
      for (;;) {
        const page = await jobs.listPartitions(exp.exportId, { after, limit: SEGMENT });
        for (const p of page.items) if (p.partition < end) out.push(p);
        // Numbers are contiguous (splits append), so one page normally covers the segment; stop once past its end.
        const last = page.items.at(-1)?.partition ?? end;
        if (page.next === null || last >= end - 1) return out;
        after = page.next;
      }
    },
  );
  return parts.flat();
}

/** Recent throughput of one leased partition, from the checkpoints of its current epoch. */
export interface PartitionRate {
  exportId: string;
  partition: number;
  owner: string | null;
  rowsPerSec: number;
  /** Time of its newest checkpoint in this epoch (null: nothing committed since the claim). */
  lastCheckpointAt: string | null;
  claimedAt: string | null;
}

const RATE_EVENTS = 25;
const ROWS = /: (\d+) rows/;

/**
 * Rows per second over the newest checkpoints of the current epoch, measured up to `now` (so a partition that stopped
 * committing shows a falling rate rather than its last good one). Window start: the claim, or the oldest checkpoint
 * read (whose own rows are then left out, since they were produced before it).
 */
export function rateFromLedger(p: PartitionRecord, newestFirst: EventRecord[], now: number): PartitionRate {
  const checkpoints: EventRecord[] = [];
  let claimedAt: string | null = null;
  for (const e of newestFirst) {
    if (e.epoch !== p.epoch) break;
    if (e.kind === "claimed") {
      claimedAt = e.at;
      break;
    }
    if (e.kind === "checkpointed") checkpoints.push(e);
  }
  const rowsOf = (e: EventRecord) => Number(ROWS.exec(e.detail ?? "")?.[1] ?? 0);
  let rows = checkpoints.reduce((s, e) => s + rowsOf(e), 0);
  let start = claimedAt;
  if (!start && checkpoints.length) {
    const oldest = checkpoints[checkpoints.length - 1] as EventRecord;
    start = oldest.at;
    rows -= rowsOf(oldest);
  }
  const seconds = start ? (now - Date.parse(start)) / 1000 : 0;
  return {
    exportId: p.exportId,
    partition: p.partition,
    owner: p.owner,
    rowsPerSec: seconds > 0 ? rows / seconds : 0,
    lastCheckpointAt: checkpoints[0]?.at ?? null,
    claimedAt,
  };
}

export async function leasedRates(jobs: JobStore, leased: readonly PartitionRecord[], now: number): Promise<PartitionRate[]> {
  const ledgers = await recentLedgers(jobs, leased);
  return leased.map((p, i) => rateFromLedger(p, ledgers[i] ?? [], now));
}

/** The newest RATE_EVENTS ledger events of each partition, newest first (one Query each, 16 at a time). */
export async function recentLedgers(jobs: JobStore, parts: readonly PartitionRecord[]): Promise<EventRecord[][]> {
  return mapLimit(
    parts,
    16,
    async (p) => (await jobs.listEvents(p.exportId, p.partition, { newestFirst: true, limit: RATE_EVENTS })).items,
  );
}

/** Every pool and every node record (TERMINATED ones too: they carry the cost and the timeline). */
export async function readFleet(fleet: FleetStore): Promise<{ pools: PoolRecord[]; nodes: NodeRecord[] }> {
  const pools = (await fleet.listPools()).sort((a, b) => a.pool.localeCompare(b.pool));
  const nodes = (await Promise.all(pools.map((p) => fleet.listNodes(p.pool)))).flat();
  return { pools, nodes };
}

/** Finds a node by instance id in any pool (node ids are unique across pools). */
export async function findNode(fleet: FleetStore, instanceId: string, pool?: string): Promise<NodeRecord | null> {
  const pools = pool ? [pool] : (await fleet.listPools()).map((p) => p.pool);
  for (const p of pools) {
    const n = await fleet.getNode(p, instanceId);
    if (n) return n;
  }
  return null;
}

/** The whole ledger of a partition, oldest first. */
export async function fullLedger(jobs: JobStore, exportId: string, partition: number): Promise<EventRecord[]> {
  const out: EventRecord[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await jobs.listEvents(exportId, partition, { limit: 1000, cursor });
    out.push(...page.items);
    if (!page.cursor) return out;
    cursor = page.cursor;
  }
}
