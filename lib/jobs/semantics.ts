import type { ExportState, PartitionRecord, SourceKey } from "../../config/records.ts";
import type { FailureInput, Lease, NewChunk, RetryPolicy } from "./job-store.ts";

/**
 * What every JobStore backend computes the same way, so the DynamoDB and the in-memory backends cannot drift apart
 * where the contract only fixes a shape: ledger detail texts (on-call views and the rehearsal parse some of them),
 * retry backoff, error truncation, how a split shares the estimate, the default queue sharding.
 */

/** States an export never leaves: the ones retention (JobStore.expireExport) applies to. */
export const FINISHED_STATES: readonly ExportState[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

/** Queue shards when a store is not told otherwise. */
export const DEFAULT_QUEUE_SHARDS = 8;
const MAX_BACKOFF_MS = 3_600_000;
/** lastError is kept short enough for a DynamoDB item and a terminal line. */
const MAX_ERROR_CHARS = 2000;

export const errorText = (failure: FailureInput) => failure.error.slice(0, MAX_ERROR_CHARS);

/** Attempts a failure brings a partition to: one more, unless its claim already counted it (a silent end). */
export const attemptsAfter = (lease: Lease, failure: FailureInput) => lease.attempts + (failure.alreadyCounted ? 0 : 1);

/** config/export-spec.ts's `retry` defaults, for a stored spec whose policy is missing or unreadable. */
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, backoffMs: 30_000 };

/**
 * The retry policy of a stored spec, field by field, without decoding the rest (JobStore.retryPolicy): the bounds are
 * the spec's own, so a value the planner could never have written falls back to the default.
 */
export function retryPolicyOf(spec: unknown): RetryPolicy {
  const retry = (spec as { retry?: { maxAttempts?: unknown; backoff?: unknown } } | null)?.retry;
  const max = retry?.maxAttempts;
  const backoff = retry?.backoff;
  return {
    maxAttempts: Number.isInteger(max) && (max as number) >= 1 && (max as number) <= 100 ? (max as number) : DEFAULT_RETRY.maxAttempts,
    backoffMs: typeof backoff === "number" && Number.isFinite(backoff) && backoff >= 0 ? backoff * 1000 : DEFAULT_RETRY.backoffMs,
  };
}

/** Delay before attempt `attempts` + 1 may be claimed: backoff * 2^(attempts-1), capped at an hour. */
export const backoffFor = (failure: FailureInput, attempts: number) => Math.min(MAX_BACKOFF_MS, failure.backoffMs * 2 ** (attempts - 1));

/** Estimated rows of a split's new partition (the caller's estimate, else half), and what the old one keeps. */
export function splitEstimate(p: PartitionRecord, estimatedRows: number | undefined): { created: number; kept: number } {
  const created = Math.min(p.estimatedRows, estimatedRows ?? Math.floor(p.estimatedRows / 2));
  return { created, kept: p.estimatedRows - created };
}

export const details = {
  checkpointed: (c: NewChunk) => `chunk ${c.seq}: ${c.rows} rows, ${c.bytes} bytes`,
  completed: (lease: Lease) => `${lease.rows} rows in ${lease.chunks} chunks`,
  quarantined: (attempts: number, f: FailureInput, error: string) => `attempt ${attempts} of ${f.maxAttempts}: ${error}`,
  failed: (attempts: number, f: FailureInput, backoffMs: number, error: string) =>
    `attempt ${attempts} of ${f.maxAttempts}, retry after ${backoffMs / 1000}s: ${error}`,
  reaped: (leaseExpiresAt: string) => `lease expired at ${leaseExpiresAt}`,
  /** lastError of a lease counted at the next claim: its holder neither reported nor progressed before it was taken back. */
  silentEnd: (owner: string, epoch: number) =>
    `the lease of ${owner} at epoch ${epoch} ended with no progress and no report (reaped or revoked): ` +
    "its agent most likely died or hung working on this partition",
  claimedCounted: (attempts: number, error: string) => `counted as attempt ${attempts}: ${error}`,
  splitKept: (at: SourceKey, created: number) => `kept up to ${JSON.stringify(at)}; remainder is partition ${created}`,
  splitCreated: (from: number) => `split from partition ${from}`,
  retried: (p: PartitionRecord) =>
    `operator retry after ${p.attempts} attempts${p.lastError ? `; last error: ${p.lastError.slice(0, 200)}` : ""}`,
  revoked: (formerOwner: string, detail: string) => `taken back from ${formerOwner}: ${detail}`,
};
