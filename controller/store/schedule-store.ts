import type { SchemaDriftPolicy } from "../../config/incremental-spec.ts";

/**
 * ScheduleStore: the state of incremental schedules (`spotferry schedule run`), next to the JobStore in the same
 * DynamoDB table. A schedule is one item with the committed watermark, the schema of the last committed run, the
 * run sequence and two guards that keep runs from overlapping:
 *   - a lease (owner, until) taken by whoever ticks the schedule; a second scheduler's acquire fails while it is held;
 *   - `currentRun`: the one run in flight. A new run can start only when it is empty, and it is emptied only by the
 *     commit that advances the watermark (conditional on the watermark still being the run's lower bound), so a run
 *     that failed stays current and is retried with the same bounds.
 * Every write is conditional; a failed condition is a ScheduleConflictError (someone else holds the lease, or the
 * schedule moved on). Time (lease expiry, timestamps) comes from the store's injected Clock.
 */
export interface ScheduleStore {
  /** The schedule, created empty (no watermark, seq 0) if it does not exist. Idempotent. */
  ensureSchedule(name: string): Promise<ScheduleRecord>;
  getSchedule(name: string): Promise<ScheduleRecord | null>;
  /** Every schedule (for `status`), by name; at most `limit` (default 100). */
  listSchedules(options?: { limit?: number }): Promise<ScheduleRecord[]>;
  /**
   * Takes or extends the schedule's lease for `owner` until now + ttlMs. Conditional on the lease being free,
   * expired, or already `owner`'s. Returns false (writes nothing) when another owner holds it.
   */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if `owner` holds it (no-op otherwise). */
  releaseLease(name: string, owner: string): Promise<void>;
  /**
   * Starts run `run.seq` (= lastSeq + 1) with its bounds: the RUN item and the schedule's currentRun/lastSeq in one
   * transaction, conditional on owning the lease, no run being current, lastSeq being seq - 1 and the watermark being
   * run.lo (absent for run 1). ScheduleConflictError otherwise.
   */
  startRun(name: string, owner: string, run: NewRun): Promise<RunRecord>;
  /** Updates the current run's progress fields (attempt, exportId, state, error...). Fenced on the lease and on the run not being finished. */
  updateRun(name: string, owner: string, seq: number, patch: RunPatch): Promise<RunRecord>;
  /**
   * Commits the current run: RUN -> COMMITTED (or EMPTY) with its results, and on the schedule watermark = run.hi,
   * lastSchema/columns = the run's, currentRun cleared — one transaction, conditional on the lease, on currentRun
   * being seq and on the watermark still being run.lo (so a watermark can never skip or repeat a range).
   */
  commitRun(name: string, owner: string, seq: number, result: RunResult): Promise<RunRecord>;
  /** Records that a tick found nothing new (no run item is written for an idle table). Fenced on the lease. */
  touch(name: string, owner: string, note: string): Promise<void>;
  getRun(name: string, seq: number): Promise<RunRecord | null>;
  /** Runs newest first; at most `limit` (default 50), read over as many pages as that takes. */
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
  /** Hive-style directory value, e.g. "2026-11-21T10-05" (the run writes under <prefix><name>/run=<runAt>/). */
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
