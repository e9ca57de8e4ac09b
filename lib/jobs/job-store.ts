import type { ExportSpec } from "../../config/export-spec.ts";
import type {
  ChunkRecord,
  CostHold,
  EventKind,
  EventRecord,
  ExportRecord,
  ExportState,
  KeyColumn,
  PartitionRecord,
  PartitionState,
  SourceKey,
  SourcePosition,
} from "../../config/records.ts";
import { eventKind } from "../../config/records.ts";

/**
 * JobStore: the only component that changes job state. Every write is conditional; the contract of each operation
 * says what it is conditional on, what is idempotent and which typed error a failed condition becomes.
 *
 * Fencing: a node holds a partition as a Lease (owner, epoch). Every write a holder makes is conditional on the item
 * still being LEASED to that (owner, epoch). A claim increments the epoch, so once a lease is taken over (by a claim
 * after a reap or a release) the old holder's next write fails with LeaseLostError, and it must stop and drop its
 * uncommitted work. Time comes from the store's injected Clock.
 *
 * Errors: LeaseLostError, RangeChangedError, ChunkSequenceError, ExportConflictError and NotFoundError are the
 * expected outcomes of races; anything else is an infrastructure failure wrapped with what was being done.
 */
export interface JobStore {
  /**
   * Creates an export and its partitions (state RUNNING, every partition PENDING and queued).
   * Idempotent: calling it again with the same exportId and spec returns the existing export (`created: false`) and
   * writes nothing new, whatever the plan; a create that crashed half way is completed. A PLANNING export left by a
   * crashed create with a different plan is replaced. Throws ExportConflictError when the id exists with another spec.
   */
  createExport(input: NewExport): Promise<CreateExportResult>;

  /**
   * Claims one claimable partition of `pool` (PENDING, notBefore passed) for `owner`: state LEASED, epoch + 1,
   * lease until now + leaseMs, event "claimed". Concurrent claimers of one partition: exactly one wins. Returns null
   * when nothing is claimable now. Claims are spread over the queue's shards so they do not all hit one key.
   * A holder that dies on its partition never reports a failure, so the claim counts it: when the previous lease
   * ended taken back (reaped, or revoked without `blameless`) with neither a report by its holder (checkpoint,
   * release, fail, complete) nor progress, the same write adds one to attempts and sets lastError, and the lease
   * carries `crashCounted`. The holder decides quarantine (it knows the retry policy): see `fail`'s `alreadyCounted`.
   */
  claim(request: ClaimRequest): Promise<Lease | null>;

  /** Claims a specific partition; null when it is not claimable (not PENDING, or in backoff). Same guarantees as claim. */
  claimPartition(exportId: string, partition: number, request: ClaimRequest): Promise<Lease | null>;

  /** Extends the lease to now + leaseMs. Fenced: LeaseLostError. Idempotent (a retry extends again). A beat is not progress. */
  heartbeat(lease: Lease, leaseMs: number): Promise<Lease>;

  /**
   * Commits one chunk: records it (its own item) and moves the cursor to chunk.lastKey, adding rows and bytes, in one
   * transaction; also extends the lease when leaseMs is given. Conditional on the fence, on `chunk.seq` being
   * lease.chunks + 1, and on the partition's hi being lease.hi (a split since the lease was read would otherwise let
   * the chunk cross the new end): RangeChangedError then; re-read with `refresh` and keep only rows below the new hi.
   * A retry of a checkpoint that was already applied (same seq, epoch and object key) returns the committed lease.
   * A checkpoint is progress: attempts go back to 0, so maxAttempts bounds failures in a row without progress (a
   * partition that keeps moving is not poisoned, however many spot kills and outages it lives through).
   */
  checkpoint(lease: Lease, chunk: NewChunk, options?: { leaseMs?: number }): Promise<Lease>;

  /**
   * Gives the partition back: PENDING at once, cursor kept, owner cleared, queued again; event "released" or
   * "interrupted" (spot notice). Fenced: LeaseLostError.
   */
  release(lease: Lease, options?: ReleaseOptions): Promise<void>;

  /**
   * The controller takes a lease back from its holder (a node found interrupted or dead, or overrunning its drain):
   * exactly what a release by the holder would do (PENDING at once, cursor kept, owner cleared, on the resume queue,
   * epoch unchanged: the next claim increments it), but the ledger records the taker's act: event "revoked" whose
   * node is `reason.by`, with `formerOwner` = fence.owner, `interrupted` as given, and a detail naming the former
   * owner and `reason.detail`. Conditional on the partition still being LEASED to (fence.owner, fence.epoch): when it
   * is not (the holder released, or the reaper or another revoke came first) nothing is written and it returns
   * false, so a retry of an applied revoke is false too. NotFoundError when the partition does not exist. The former
   * holder's next fenced write fails with LeaseLostError, so a half-alive agent can never commit afterwards.
   */
  revoke(fence: LeaseFence, reason: RevokeReason): Promise<boolean>;

  /** Marks the partition DONE (no longer queued), event "completed". Fenced; RangeChangedError if it was split. */
  complete(lease: Lease): Promise<PartitionRecord>;

  /**
   * Records a failed attempt: attempts + 1 and lastError; PENDING again with notBefore = now + backoff * 2^(attempts-1)
   * (capped at 1 h), or QUARANTINED (out of the queue) once attempts reaches maxAttempts. Fenced: LeaseLostError.
   * With `alreadyCounted` (the claim counted this attempt: lease.crashCounted) attempts stays lease.attempts.
   */
  fail(lease: Lease, failure: FailureInput): Promise<PartitionRecord>;

  /**
   * Splits a LEASED partition's remainder at `at`: the partition keeps [lo, at) with its owner, cursor and chunks,
   * and a new PENDING partition [at, hi) is created and queued, atomically, with "split" events on both.
   * The caller must pick `at` strictly between the expected cursor (or lo) and hi using the source's index.
   * Conditional on the owner's (owner, epoch) (LeaseLostError), and on cursor and hi being those in `fence`
   * (RangeChangedError: the owner checkpointed or someone else split first; re-read and choose again).
   */
  split(fence: SplitFence, at: SourceKey, options?: { estimatedRows?: number }): Promise<SplitResult>;

  /**
   * Returns LEASED partitions whose lease expired more than skewMarginMs ago to PENDING (cursor kept, queued at once),
   * each with a "reaped" event, and lists them. A lease heartbeated meanwhile is left alone. Safe to run concurrently.
   */
  reapExpired(options: { skewMarginMs: number; limit?: number }): Promise<ReapedLease[]>;

  /**
   * Moves an export from one of `from` to `to`, setting the given fields (error, manifest, totals). Conditional on the
   * current state being in `from`: ExportStateError otherwise (NotFoundError when missing). Idempotent when `to` is
   * itself in `from`. Used by finalizing and cancelling; it never touches partitions.
   */
  setExportState(exportId: string, change: ExportStateChange): Promise<ExportRecord>;

  /**
   * Operator cancel: the export RUNNING or PLANNING -> CANCELLED (ExportStateError from SUCCEEDED, FAILED or
   * FINALIZING; NotFoundError), then every PENDING partition is taken off the claim queue (still PENDING, cursor
   * kept) so agents stop claiming it. LEASED partitions stay with their holders, which re-read the export state at
   * each chunk boundary and release with `park` (off the queue). Idempotent: calling it on a CANCELLED export
   * finishes a cancel that crashed half way. A partition released, revoked or reaped by someone who had not yet seen
   * the cancel is queued again; the next claimer sees CANCELLED and parks it, so the queue drains by itself.
   */
  cancelExport(exportId: string, options?: { reason?: string }): Promise<{ export: ExportRecord; dequeued: number }>;

  /**
   * Operator retry of a QUARANTINED partition: PENDING and queued at once, attempts back to 0 (lastError kept for the
   * record), event "retried" by `options.by`. Conditional on the partition being QUARANTINED (PartitionStateError
   * otherwise, NotFoundError when missing) and on its export being RUNNING (ExportStateError), in one transaction.
   */
  retryPartition(exportId: string, partition: number, options?: { by?: string }): Promise<PartitionRecord>;

  /**
   * The export's retry policy, read leniently: its own fields from the stored spec, the spec's defaults for any that
   * are missing or malformed, null when the export does not exist. An export record this version cannot decode (an
   * older planner's) still has its partitions failed and quarantined by the policy it was planned with.
   */
  retryPolicy(exportId: string): Promise<RetryPolicy | null>;

  /** Re-reads a lease's partition (strongly consistent). Null when it is no longer held by (owner, epoch). */
  refresh(lease: Lease): Promise<Lease | null>;

  getExport(exportId: string): Promise<ExportRecord | null>;
  /** Exports, newest first. */
  listExports(options?: { limit?: number; state?: ExportState }): Promise<ExportRecord[]>;
  getPartition(exportId: string, partition: number): Promise<PartitionRecord | null>;
  /** Partitions in partition order, one page at a time; `after` is the last partition number of the previous page. */
  listPartitions(exportId: string, options?: PageOptions & { state?: PartitionState }): Promise<Page<PartitionRecord>>;
  /** Committed chunks of a partition in sequence order; `after` is the last seq of the previous page. */
  listChunks(exportId: string, partition: number, options?: PageOptions): Promise<Page<ChunkRecord>>;
  /** The on-call ledger of one partition, oldest first (or newest first with `newestFirst`). */
  listEvents(
    exportId: string,
    partition: number,
    options?: { limit?: number; newestFirst?: boolean; cursor?: string },
  ): Promise<{ items: EventRecord[]; cursor: string | null }>;
  /** Counts, rows and bytes by partition state, summed from the partitions. */
  progress(exportId: string): Promise<ExportProgress>;

  /**
   * The controller's spend cap: sets (or, with null, clears) `costHold` on the export record, with the figures that
   * tripped it. Conditional on the export being RUNNING (ExportStateError; NotFoundError when missing). Idempotent.
   * It touches no partition: the controller stops launching for a held export, agents already running go on.
   */
  setCostHold(exportId: string, hold: CostHold | null): Promise<ExportRecord>;

  /**
   * Retention: writes the table's TTL attribute (`expiresAt`, epoch seconds; lib/dynamo/table.ts) on every item of a
   * finished export (SUCCEEDED, FAILED or CANCELLED; ExportStateError otherwise, NotFoundError when missing): its
   * record, partitions, chunks and ledger events, the record last, so `record.expiresAt` set means every item has
   * it. Idempotent (a repeat writes the new value). Returns the items written.
   */
  expireExport(exportId: string, expiresAt: number): Promise<{ items: number }>;
}

/** What a holder knows about its partition; returned by claim and by every successful fenced write. */
export interface Lease {
  exportId: string;
  partition: number;
  pool: string;
  owner: string;
  epoch: number;
  leaseExpiresAt: string;
  lo: SourceKey | null;
  hi: SourceKey | null;
  cursor: SourceKey | null;
  chunks: number;
  rows: number;
  bytes: number;
  attempts: number;
  /**
   * Set by the claim that counted the previous lease as a failed attempt (its holder ended silently, see claim):
   * the lastError recorded. `attempts` already includes it.
   */
  crashCounted?: string;
}

export interface ReleaseOptions {
  /** A spot notice (event "interrupted") rather than a plain release. */
  interrupted?: boolean;
  detail?: string;
  /**
   * PENDING but off the claim queue: the export is no longer RUNNING (cancelled), so nobody should claim the
   * partition again. Without it a cancelled export's partitions would bounce between claimers forever.
   */
  park?: boolean;
}

/** Who holds a partition, as read; a Lease is one. */
export interface LeaseFence {
  exportId: string;
  partition: number;
  owner: string;
  epoch: number;
}

export interface RevokeReason {
  /** Why, for the ledger ("node i-0a1: spot interruption"). */
  detail: string;
  /** Who takes the lease back: the controller replica's owner id. */
  by: string;
  /** The holder was interrupted or died, rather than (say) overrunning its drain; recorded on the event. */
  interrupted?: boolean;
  /**
   * The lease was taken for a reason outside the partition (EC2 reclaimed the spot node, an operator's drain): the
   * next claim does not count it as a failed attempt. Without it a lease that made no progress counts (see claim).
   */
  blameless?: boolean;
}

export interface ExportStateChange {
  from: ExportState[];
  to: ExportState;
  error?: string;
  manifestKey?: string;
  rowsExported?: number;
  bytesExported?: number;
}

export interface ClaimRequest {
  pool: string;
  owner: string;
  leaseMs: number;
}

export interface PlannedPartition {
  lo: SourceKey | null;
  hi: SourceKey | null;
  estimatedRows: number;
}

export interface NewExport {
  exportId: string;
  spec: ExportSpec;
  keyColumns: KeyColumn[];
  keyIndex: string;
  lowKey: SourceKey | null;
  highWatermark: SourceKey | null;
  partitions: PlannedPartition[];
  /** Recorded on the export as it is (not part of the plan's hash: re-planning reads a newer one). */
  sourcePosition?: SourcePosition;
}

export interface CreateExportResult {
  export: ExportRecord;
  /** False when the export already existed (nothing was duplicated). */
  created: boolean;
  /** True when it already existed but this call's plan differs (the data changed); the existing plan is kept. */
  planDiffers: boolean;
}

export interface NewChunk {
  /** lease.chunks + 1 */
  seq: number;
  objectKey: string;
  rows: number;
  bytes: number;
  sha256: string;
  firstKey: SourceKey;
  lastKey: SourceKey;
}

export interface FailureInput {
  error: string;
  maxAttempts: number;
  backoffMs: number;
  /** The attempt was counted by the claim (lease.crashCounted): record it without adding one. */
  alreadyCounted?: boolean;
}

/** An export's retry policy as the store reads it (JobStore.retryPolicy). */
export interface RetryPolicy {
  maxAttempts: number;
  backoffMs: number;
}

export interface SplitFence {
  exportId: string;
  partition: number;
  owner: string;
  epoch: number;
  /** Cursor and hi as read when `at` was chosen. */
  cursor: SourceKey | null;
  hi: SourceKey | null;
}

export interface SplitResult {
  kept: PartitionRecord;
  created: PartitionRecord;
}

export interface ReapedLease {
  exportId: string;
  partition: number;
  pool: string;
  owner: string;
  epoch: number;
  leaseExpiresAt: string;
  cursor: SourceKey | null;
}

export interface PageOptions {
  limit?: number;
  after?: number;
}

export interface Page<T> {
  items: T[];
  /** Pass as `after` for the next page; null when this was the last. */
  next: number | null;
}

export interface StateTotals {
  partitions: number;
  rows: number;
  bytes: number;
  chunks: number;
  estimatedRows: number;
}

export interface ExportProgress {
  exportId: string;
  byState: Record<PartitionState, StateTotals>;
  total: StateTotals;
  /** Owners of LEASED partitions and how many each holds. */
  owners: Record<string, number>;
}

/** Every kind of ledger event, in the order the ledger explains them (from the record schema). */
export const eventKinds: readonly EventKind[] = eventKind.options;

/** Base of the expected outcomes of races; each carries the partition it is about. */
export class JobStoreError extends Error {
  readonly exportId: string;
  readonly partition: number | null;
  constructor(message: string, exportId: string, partition: number | null) {
    super(message);
    this.name = new.target.name;
    this.exportId = exportId;
    this.partition = partition;
  }
}

/** The caller's (owner, epoch) no longer holds the partition: stop, abandon uncommitted work, never write again. */
export class LeaseLostError extends JobStoreError {
  readonly owner: string;
  readonly epoch: number;
  readonly current: { state: PartitionState; owner: string | null; epoch: number } | null;
  constructor(
    exportId: string,
    partition: number,
    owner: string,
    epoch: number,
    current: { state: PartitionState; owner: string | null; epoch: number } | null,
  ) {
    const now = current ? `it is ${current.state} by ${current.owner ?? "nobody"} at epoch ${current.epoch}` : "it is gone";
    super(`lease on partition ${partition} of export ${exportId} lost by ${owner} at epoch ${epoch}: ${now}`, exportId, partition);
    this.owner = owner;
    this.epoch = epoch;
    this.current = current;
  }
}

/** The partition's range or cursor is not what the caller read (split or checkpoint in between): re-read, decide again. */
export class RangeChangedError extends JobStoreError {
  readonly current: PartitionRecord;
  constructor(exportId: string, partition: number, what: string, current: PartitionRecord) {
    super(`partition ${partition} of export ${exportId} changed under the caller: ${what}`, exportId, partition);
    this.current = current;
  }
}

/** A checkpoint's seq is not the next one (a bug in the caller, or a different chunk committed under that seq). */
export class ChunkSequenceError extends JobStoreError {
  constructor(exportId: string, partition: number, seq: number, committed: number) {
    super(`chunk ${seq} of partition ${partition} of export ${exportId} is out of sequence: ${committed} committed`, exportId, partition);
  }
}

/** The export id exists with a different spec. */
export class ExportConflictError extends JobStoreError {
  constructor(exportId: string) {
    super(`export ${exportId} already exists with a different spec; choose another id or name`, exportId, null);
  }
}

/** The export is not in any of the states a change expected. */
export class ExportStateError extends JobStoreError {
  readonly state: ExportState;
  constructor(exportId: string, state: ExportState, expected: ExportState[]) {
    super(`export ${exportId} is ${state}, expected ${expected.join(" or ")}`, exportId, null);
    this.state = state;
  }
}

/** The partition is not in the state an operator action expected (e.g. retry of a partition that is not QUARANTINED). */
export class PartitionStateError extends JobStoreError {
  readonly state: PartitionState;
  constructor(exportId: string, partition: number, state: PartitionState, expected: PartitionState) {
    super(`partition ${partition} of export ${exportId} is ${state}, expected ${expected}`, exportId, partition);
    this.state = state;
  }
}

export class NotFoundError extends JobStoreError {
  constructor(exportId: string, partition: number | null) {
    super(
      partition === null ? `export ${exportId} not found` : `partition ${partition} of export ${exportId} not found`,
      exportId,
      partition,
    );
  }
}
