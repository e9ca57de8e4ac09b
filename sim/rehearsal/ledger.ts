import type { EventRecord, PartitionRecord } from "../../config/records.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";

/**
 * Reads the on-call ledger of an export after the fact and turns it into the rehearsal's figures: which partitions
 * moved between nodes, why, and how long each stood still, measured from the sim's own record of the fault (the
 * spot notice or the hard kill) to the next claim of the partition by another node.
 */

/** A fault the sim injected, from its event log. */
export interface Fault {
  kind: "notice" | "kill";
  instanceId: string;
  at: number;
  cause?: string;
}

/** One hand-over of a partition: its holder let go (or was made to), then another node claimed it. */
export interface Move {
  partition: number;
  from: string | null;
  to: string | null;
  /**
   * The hand-over: interrupted (spot notice), released (drain), reaped; a controller's revoke counts as interrupted
   * (the node was interrupted or died) or released (it overran its drain), so the report's categories hold.
   */
  how: EventRecord["kind"];
  /** The controller that revoked the lease, when it was taken back rather than let go. */
  revokedBy: string | null;
  releasedAt: number;
  claimedAt: number | null;
  /** The fault on the releasing node that caused it, if any. */
  fault: Fault | null;
  /** Fault to release: how fast the agent (or the controller, for a kill) gave the partition back. */
  faultToReleaseMs: number | null;
  /** Fault to the next claim: the time the partition stood still. */
  faultToResumeMs: number | null;
  /** Chunks the partition had committed when it was let go; the next owner continued from there. */
  chunksAtRelease: number;
}

export interface LedgerFigures {
  partitions: number;
  /** Partitions created by splits. */
  splits: number;
  claims: number;
  checkpoints: number;
  failures: number;
  moves: Move[];
}

const HANDOVER = new Set<EventRecord["kind"]>(["interrupted", "released", "reaped", "revoked"]);

/** Who let go and how: a revoke is recorded as the controller's act, with the node that held the lease beside it. */
function handover(e: EventRecord): { from: string | null; how: EventRecord["kind"]; revokedBy: string | null } {
  if (e.kind !== "revoked") return { from: e.node, how: e.kind, revokedBy: null };
  return { from: e.formerOwner ?? null, how: e.interrupted ? "interrupted" : "released", revokedBy: e.node };
}

async function allEvents(jobs: JobStore, exportId: string, partition: number): Promise<EventRecord[]> {
  const out: EventRecord[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await jobs.listEvents(exportId, partition, { limit: 500, cursor });
    out.push(...page.items);
    if (!page.cursor) return out;
    cursor = page.cursor;
  }
}

async function allPartitions(jobs: JobStore, exportId: string): Promise<PartitionRecord[]> {
  const out: PartitionRecord[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await jobs.listPartitions(exportId, { limit: 500, after });
    out.push(...page.items);
    if (page.next === null) return out;
    after = page.next;
  }
}

/**
 * The figures of one export; `faults` are the sim's interruption notices and kills of the pool's instances. Events of
 * `ignoreOwner` (the rehearsal's own hold on a partition, gate.ts) are left out: it is not a node and moved nothing.
 */
export async function ledgerFigures(
  jobs: JobStore,
  exportId: string,
  faults: readonly Fault[],
  options: { ignoreOwner?: string } = {},
): Promise<LedgerFigures> {
  const partitions = await allPartitions(jobs, exportId);
  const figures: LedgerFigures = { partitions: partitions.length, splits: 0, claims: 0, checkpoints: 0, failures: 0, moves: [] };
  for (const p of partitions) {
    if (p.splitFrom !== null) figures.splits++;
    const ignored = (e: EventRecord) =>
      options.ignoreOwner !== undefined && (e.node === options.ignoreOwner || e.formerOwner === options.ignoreOwner);
    const events = (await allEvents(jobs, exportId, p.partition)).filter((e) => !ignored(e));
    let chunks = 0;
    for (const [i, e] of events.entries()) {
      if (e.kind === "claimed") figures.claims++;
      if (e.kind === "checkpointed") {
        figures.checkpoints++;
        chunks++;
      }
      if (e.kind === "failed") figures.failures++;
      if (!HANDOVER.has(e.kind)) continue;
      const releasedAt = Date.parse(e.at);
      const { from, how, revokedBy } = handover(e);
      const next = events.slice(i + 1).find((x) => x.kind === "claimed");
      // The fault behind it: the latest notice or kill of the releasing node before the release.
      const fault =
        faults
          .filter((f) => f.instanceId === from && f.at <= releasedAt + 1000)
          .sort((a, b) => b.at - a.at)
          .at(0) ?? null;
      const claimedAt = next ? Date.parse(next.at) : null;
      figures.moves.push({
        partition: p.partition,
        from,
        to: next?.node ?? null,
        how,
        revokedBy,
        releasedAt,
        claimedAt,
        fault,
        faultToReleaseMs: fault ? Math.max(0, releasedAt - fault.at) : null,
        faultToResumeMs: fault && claimedAt !== null ? Math.max(0, claimedAt - fault.at) : null,
        chunksAtRelease: chunks,
      });
    }
  }
  return figures;
}

/** Faults from the sim's event log (`GET /_sim/events`), limited to the given instances. */
export async function simFaults(simUrl: string, instanceIds: ReadonlySet<string>): Promise<Fault[]> {
  const res = await fetch(`${simUrl}/_sim/events?type=interruption-notice,killed`);
  if (!res.ok) throw new Error(`reading the sim's event log at ${simUrl}: HTTP ${res.status}`);
  const faults: Fault[] = [];
  for (const line of (await res.text()).split("\n")) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as { type: string; time: string; instanceId?: string; cause?: string };
    if (!e.instanceId || !instanceIds.has(e.instanceId)) continue;
    faults.push({ kind: e.type === "killed" ? "kill" : "notice", instanceId: e.instanceId, at: Date.parse(e.time), cause: e.cause });
  }
  return faults;
}

/** Median and max of a list of milliseconds, as seconds with one decimal. */
export function spread(ms: readonly number[]): { n: number; medianS: number | null; maxS: number | null } {
  if (ms.length === 0) return { n: 0, medianS: null, maxS: null };
  const sorted = [...ms].sort((a, b) => a - b);
  const mid = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return { n: ms.length, medianS: Math.round(mid / 100) / 10, maxS: Math.round(sorted.at(-1)! / 100) / 10 };
}
