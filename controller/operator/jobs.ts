import type { PartitionRecord } from "../../config/records.ts";
import { ExportStateError, type JobStore, PartitionStateError } from "../../lib/jobs/job-store.ts";
import { num } from "../oncall/format.ts";
import { ActionRefused, notFound } from "./refusal.ts";

/**
 * Operator actions on exports, as plain functions: each `plan*` reads and checks (refusing with ActionRefused when
 * the action is unsafe or the subject is in the wrong state) and says in one sentence what applying it will do; the
 * matching `apply*` does it. The CLI asks for confirmation between the two; tests and other callers need no commander.
 */

export interface RetryPlan {
  exportId: string;
  targets: Pick<PartitionRecord, "partition" | "attempts" | "lastError">[];
  description: string;
}

/** Retry one QUARANTINED partition, or every one of a RUNNING export. */
export async function planRetry(jobs: JobStore, opts: { exportId: string; partition?: number }): Promise<RetryPlan> {
  const { exportId: id, partition: n } = opts;
  const exp = await jobs.getExport(id);
  if (!exp) throw notFound(`export ${id}`);
  if (exp.state !== "RUNNING") throw new ActionRefused(`export ${id} is ${exp.state}; only a RUNNING export's partitions can be retried`);
  let targets: RetryPlan["targets"];
  if (n !== undefined) {
    const p = await jobs.getPartition(id, n);
    if (!p) throw notFound(`partition ${n} of export ${id}`);
    if (p.state !== "QUARANTINED") throw new ActionRefused(`partition ${n} of export ${id} is ${p.state}, not QUARANTINED`);
    targets = [p];
  } else {
    targets = await allQuarantined(jobs, id);
    if (!targets.length) throw new ActionRefused(`export ${id} has no QUARANTINED partitions`);
  }
  const first = targets[0];
  const description =
    targets.length === 1 && first
      ? `retry partition ${first.partition} of export ${id} (quarantined after ${first.attempts} attempts; last error: ${first.lastError ?? "none"})`
      : `retry ${targets.length} quarantined partitions of export ${id} (${targets.map((t) => t.partition).join(", ")})`;
  return { exportId: id, targets, description };
}

async function allQuarantined(jobs: JobStore, exportId: string): Promise<PartitionRecord[]> {
  const out: PartitionRecord[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await jobs.listPartitions(exportId, { state: "QUARANTINED", after, limit: 1000 });
    out.push(...page.items);
    if (page.next === null) return out;
    after = page.next;
  }
}

export interface RetryResult {
  exportId: string;
  retried: number[];
  skipped: { partition: number; reason: string }[];
}

/** Puts the planned partitions back on the queue with fresh attempts; ones that changed meanwhile are skipped. */
export async function applyRetry(jobs: JobStore, plan: RetryPlan, opts: { by: string }): Promise<RetryResult> {
  const result: RetryResult = { exportId: plan.exportId, retried: [], skipped: [] };
  for (const t of plan.targets) {
    try {
      await jobs.retryPartition(plan.exportId, t.partition, { by: opts.by });
      result.retried.push(t.partition);
    } catch (err) {
      if (!(err instanceof PartitionStateError || err instanceof ExportStateError)) throw err;
      result.skipped.push({ partition: t.partition, reason: err.message });
    }
  }
  if (!result.retried.length) throw new ActionRefused("every partition changed state meanwhile");
  return result;
}

export interface CancelPlan {
  exportId: string;
  leased: number;
  description: string;
}

/** Cancel a PLANNING or RUNNING export (again for a CANCELLED one: it takes leftovers off the queue). */
export async function planCancel(jobs: JobStore, opts: { exportId: string }): Promise<CancelPlan> {
  const id = opts.exportId;
  const exp = await jobs.getExport(id);
  if (!exp) throw notFound(`export ${id}`);
  if (exp.state !== "RUNNING" && exp.state !== "PLANNING" && exp.state !== "CANCELLED") {
    throw new ActionRefused(`export ${id} is ${exp.state}; only a PLANNING or RUNNING export can be cancelled`);
  }
  const progress = await jobs.progress(id);
  const leased = progress.byState.LEASED.partitions;
  const description =
    exp.state === "CANCELLED"
      ? `re-run the cancel of export ${id} (already CANCELLED): take any PENDING partitions left on the queue off it`
      : `cancel export ${id} (${num(progress.total.rows)} of ${num(exp.estimatedRows)} rows done): ${progress.byState.PENDING.partitions} pending partitions leave the queue and ${leased} running ones stop at their next chunk; this cannot be undone`;
  return { exportId: id, leased, description };
}

export async function applyCancel(jobs: JobStore, plan: CancelPlan, opts: { reason: string }) {
  try {
    const result = await jobs.cancelExport(plan.exportId, { reason: opts.reason });
    return { exportId: plan.exportId, state: result.export.state, dequeued: result.dequeued, leased: plan.leased };
  } catch (err) {
    if (err instanceof ExportStateError) throw new ActionRefused(err.message);
    throw err;
  }
}
