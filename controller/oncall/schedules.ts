import { mapLimit } from "../../lib/dynamo/access.ts";
import type { DriftChange, QualityResult, RunRecord, RunState, ScheduleStore } from "../store/schedule-store.ts";

/**
 * Incremental schedules in the on-call snapshot (`status`, `status --json`, the status page): each schedule's
 * committed watermark and its newest runs with their bounds, state, rows, quality results and schema drift. Read from
 * the ScheduleStore alone: one index query for the schedules and one small query of runs each, so a state table
 * with schedules costs `status` a few requests, and one without them a single empty query.
 */

/** What a rule came to: passed, failed under policy flag (the run still committed), or failed under policy fail. */
export type QualityVerdict = "pass" | "flag" | "fail";

export interface RunQuality {
  rule: string;
  columns: string[] | null;
  result: QualityVerdict;
  message: string;
}

export interface ScheduleRunStatus {
  seq: number;
  attempt: number;
  state: RunState;
  /** Hive-style directory value: the run's objects are under <prefix><schedule>/run=<runAt>/. */
  runAt: string;
  /** The run reads (after, upTo] on the watermark column; upTo becomes the schedule's watermark when it commits. */
  watermark: { after: string | null; upTo: string };
  sourceRows: number;
  rows: number;
  bytes: number;
  quality: RunQuality[];
  drift: { policy: string; action: string; changes: DriftChange[]; message: string };
  exportId: string | null;
  manifestKey: string | null;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface ScheduleStatus {
  name: string;
  /** Upper bound of the last committed run; null before the first. */
  watermark: string | null;
  runs: number;
  /** The run in flight (RUNNING, or FAILED and waiting for its retry), if any. */
  currentRun: number | null;
  lastCheckedAt: string | null;
  lastNote: string | null;
  /** Newest first. */
  recentRuns: ScheduleRunStatus[];
}

export const RUNS_SHOWN = 5;

export const verdictOf = (q: Pick<QualityResult, "passed" | "policy">): QualityVerdict => (q.passed ? "pass" : q.policy);

export function runView(r: RunRecord): ScheduleRunStatus {
  return {
    seq: r.seq,
    attempt: r.attempt,
    state: r.state,
    runAt: r.runAt,
    watermark: { after: r.lo, upTo: r.hi },
    sourceRows: r.sourceRows,
    rows: r.rows,
    bytes: r.bytes,
    quality: (r.quality ?? []).map((q) => ({ rule: q.rule, columns: q.columns ?? null, result: verdictOf(q), message: q.message })),
    drift: { policy: r.drift.policy, action: r.drift.action, changes: r.drift.changes, message: r.drift.message },
    exportId: r.exportId,
    manifestKey: r.manifestKey,
    error: r.error,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  };
}

export async function readSchedules(store: ScheduleStore, runsEach = RUNS_SHOWN): Promise<ScheduleStatus[]> {
  const schedules = (await store.listSchedules()).sort((a, b) => a.name.localeCompare(b.name));
  return mapLimit(schedules, 8, async (s) => ({
    name: s.name,
    watermark: s.watermark,
    runs: s.lastSeq,
    currentRun: s.currentRun,
    lastCheckedAt: s.lastCheckedAt,
    lastNote: s.lastNote,
    recentRuns: (await store.listRuns(s.name, { limit: runsEach })).map(runView),
  }));
}

/** "row-count pass, null-rate(notes) flag": one word per rule, for tables. */
export const qualitySummary = (qs: RunQuality[]) =>
  qs.length ? qs.map((q) => `${q.rule}${q.columns?.length ? `(${q.columns.join(",")})` : ""} ${q.result}`).join(", ") : "-";

/** "evolved: added region" or "-" when the schema did not change. */
export const driftSummary = (d: ScheduleRunStatus["drift"]) =>
  d.changes.length
    ? `${d.action}: ${d.changes.map((c) => `${c.kind} ${c.kind === "renamed" ? `${c.from} -> ${c.to}` : c.column}`).join(", ")}`
    : "-";
