import type { SchemaDriftPolicy } from "../../config/incremental-spec.ts";

/**
 * ScheduleStore: the state of incremental schedules (`spotferry schedule run`), next to the JobStore in the same
 * DynamoDB table. A schedule is one item with the committed watermark, the schema of the last committed run, the
 * run sequence and two guards that keep runs from overlapping:
 *   - a lease (owner, until) taken by whoever ticks the schedule; a second scheduler's acquire fails while it is held;
 *   - `currentRun`: the one run in flight. A new run can start only when it is empty, and it is emptied only by the
 *     commit that advances the watermark (conditional on the watermark still being the run's lower bound), so a run
 *     that failed stays current and is retried with the same bounds.
 * Every write is conditional. A failed condition is a ScheduleConflictError (someone else holds the lease, or the
 * schedule moved on), except for the lease itself: acquireLease answers false and releaseLease does nothing. A
 * transaction that merely conflicted with another one in flight is retried, never reported as a conflict.
 * Infrastructure failures throw plain Errors. Time (lease expiry, timestamps) comes from the store's injected Clock.
 *
 * "Fenced on the lease" means `leaseOwner` is the caller: expiry matters only to acquireLease. An owner whose lease
 * expired keeps writing until another owner acquires it, which is when its writes start failing; a scheduler that
 * must not outlive its lease stops on the lease keeper's signal (lib/leases), not on a store error.
 * Records are copies (mutating one never changes what is stored); undefined fields are not written, null is.
 */
export interface ScheduleStore {
  /**
   * The schedule, created empty (no watermark, lastSeq 0, no lease, updatedAt = now) if it does not exist, else
   * returned as it is (nothing changes, not even updatedAt). Idempotent.
   */
  ensureSchedule(name: string): Promise<ScheduleRecord>;
  /** The schedule, or null when it was never ensured. */
  getSchedule(name: string): Promise<ScheduleRecord | null>;
  /**
   * Every schedule (for `status`), by name (UTF-8 byte order), read over as many pages as it takes; at most `limit`
   * (a positive integer, default 100; 0 throws). Read from the index, which real DynamoDB updates eventually.
   */
  listSchedules(options?: { limit?: number }): Promise<ScheduleRecord[]>;
  /**
   * Takes or extends the schedule's lease for `owner` until now + ttlMs (a renewal may shorten it). Conditional on
   * the lease being free, expired (leaseUntil < now: at exactly leaseUntil it is still held), or already `owner`'s.
   * Returns false (writes nothing) when another owner holds it, and also when the schedule does not exist (ensure
   * it first). Does not change updatedAt.
   */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /**
   * Gives the lease up (owner and until cleared) if `owner` holds it, expired or not; a no-op otherwise, also for an
   * unknown schedule. The run in flight stays current.
   */
  releaseLease(name: string, owner: string): Promise<void>;
  /**
   * Starts run `run.seq` (= lastSeq + 1) with its bounds: the RUN item and the schedule's currentRun/lastSeq in one
   * transaction, conditional on owning the lease, no run being current, lastSeq being seq - 1 and the watermark being
   * run.lo. Run 1 needs no watermark at all and its lo is not compared (it is null or incremental.startAfter).
   * ScheduleConflictError otherwise, with nothing written. Returns the run: RUNNING, attempt 1, no rows yet,
   * startedAt = updatedAt = now. The lease is not renewed.
   */
  startRun(name: string, owner: string, run: NewRun): Promise<RunRecord>;
  /**
   * Sets the given fields of run `seq` (undefined ones skipped, null clears) and its updatedAt; returns the run as
   * stored afterwards. Fenced on the lease, on `seq` being the current run, and on the run being RUNNING or FAILED,
   * so a committed run can never change; ScheduleConflictError otherwise. `state` moves between RUNNING and FAILED
   * only: patching it to COMMITTED or EMPTY would leave a current run that commitRun refuses.
   */
  updateRun(name: string, owner: string, seq: number, patch: RunPatch): Promise<RunRecord>;
  /**
   * Commits the current run: RUN -> COMMITTED (or EMPTY) with its results, error cleared, finishedAt = now, and on the
   * schedule watermark = run.hi, lastSchema/columns = the run's as stored (including updateRun's changes),
   * currentRun cleared — one transaction, conditional on the lease, on currentRun being seq, on the run being RUNNING
   * or FAILED and on the watermark still being run.lo (absent for run 1), so a watermark can never skip or repeat a
   * range. ScheduleConflictError otherwise (also for an unknown run, or a second commit), with nothing written.
   * lastSeq is unchanged and the lease is kept.
   */
  commitRun(name: string, owner: string, seq: number, result: RunResult): Promise<RunRecord>;
  /**
   * Records that a tick found nothing new (lastCheckedAt = now, lastNote; updatedAt unchanged; no run item is written
   * for an idle table). Fenced on the lease: ScheduleConflictError when `owner` does not hold it or there is no such
   * schedule.
   */
  touch(name: string, owner: string, note: string): Promise<void>;
  /** Run `seq` of the schedule, or null when it was never started. */
  getRun(name: string, seq: number): Promise<RunRecord | null>;
  /**
   * Runs newest first (by seq); at most `limit` (a positive integer, default 50; 0 throws), read consistently over as
   * many pages as that takes. Empty for a schedule with no runs or no such schedule.
   */
  listRuns(name: string, options?: { limit?: number }): Promise<RunRecord[]>;
}

/** One column as information_schema describes it; the schema a run recorded. */
export interface SchemaColumn {
  name: string;
  /** COLUMN_TYPE, lower case: "bigint(20) unsigned", "varchar(40)". */
  type: string;
  nullable: boolean;
  /** 1-based ORDINAL_POSITION. */
  position: number;
}

export type DriftKind = "added" | "dropped" | "widened" | "narrowed" | "type-changed" | "renamed";

export interface DriftChange {
  kind: DriftKind;
  column: string;
  /** renamed: the old name; type changes: the old type. */
  from?: string;
  /** renamed: the new name; type changes: the new type. */
  to?: string;
}

export interface SchemaDriftReport {
  policy: SchemaDriftPolicy;
  /** Empty when the schema is the previous run's (or this is the first run). */
  changes: DriftChange[];
  /** What the policy made of it: the run exported `columns`. */
  action: "none" | "evolved" | "ignored-new-columns" | "failed";
  message: string;
}

export interface QualityResult {
  rule: string;
  /** Column(s) the rule looked at, if any. */
  columns?: string[];
  policy: "fail" | "flag";
  passed: boolean;
  /** What was measured and what was allowed, as text for humans and numbers for scripts. */
  observed: Record<string, number | string | null>;
  message: string;
}

export type RunState = "RUNNING" | "FAILED" | "COMMITTED" | "EMPTY";

export interface ScheduleRecord {
  name: string;
  /** Committed watermark: the upper bound of the last committed run (exact text); null before the first. */
  watermark: string | null;
  lastSeq: number;
  currentRun: number | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  /** Source schema and exported columns of the last committed run (drift is measured against these). */
  lastSchema: SchemaColumn[] | null;
  lastColumns: string[] | null;
  lastCheckedAt: string | null;
  lastNote: string | null;
  updatedAt: string;
}

export interface NewRun {
  seq: number;
  /** Exclusive lower bound (the schedule's watermark at start; incremental.startAfter or null for the first run). */
  lo: string | null;
  /** Inclusive upper bound: the new watermark taken at run start. */
  hi: string;
  /** Hive-style directory value, e.g. "2026-11-21T10-05-07" (controller/schedule/run-dir.ts; runs before issue 17: "2026-11-21T10-05"). */
  runAt: string;
  /** Rows in (lo, hi] counted at start (cheap COUNT before any fleet capacity is asked for). */
  sourceRows: number;
  /** The database's NOW(6) at start (updated-at mode: rows stamped after it were updated during the run). */
  dbNow: string;
  schema: SchemaColumn[];
  columns: string[];
  drift: SchemaDriftReport;
}

export interface RunRecord extends NewRun {
  name: string;
  state: RunState;
  attempt: number;
  exportId: string | null;
  rows: number;
  bytes: number;
  quality: QualityResult[];
  manifestKey: string | null;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
  updatedAt: string;
}

export type RunPatch = Partial<Pick<RunRecord, "state" | "attempt" | "exportId" | "error" | "quality" | "drift" | "columns" | "schema">>;

export interface RunResult {
  state: "COMMITTED" | "EMPTY";
  rows: number;
  bytes: number;
  quality: QualityResult[];
  manifestKey: string | null;
}

export class ScheduleConflictError extends Error {
  readonly schedule: string;

  constructor(schedule: string, what: string) {
    super(`schedule ${schedule}: ${what}`);
    this.schedule = schedule;
    this.name = "ScheduleConflictError";
  }
}
