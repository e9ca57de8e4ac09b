import type { Clock } from "../../lib/clock.ts";
import { byteOrder, checkLimit, copy } from "./memory-items.ts";
import {
  type NewRun,
  type RunPatch,
  type RunRecord,
  type RunResult,
  ScheduleConflictError,
  type ScheduleRecord,
  type ScheduleStore,
} from "./schedule-store.ts";

export interface MemoryScheduleStoreOptions {
  clock: Clock;
}

/** The schedule item as DynamoDB holds it: absent attributes are absent, not null (conditions tell them apart). */
interface Meta {
  name: string;
  lastSeq: number;
  updatedAt: string;
  watermark?: string;
  currentRun?: number;
  leaseOwner?: string;
  leaseUntil?: number;
  lastSchema?: ScheduleRecord["lastSchema"];
  lastColumns?: string[];
  lastCheckedAt?: string;
  lastNote?: string;
}

const finishable = (run: RunRecord | undefined) => run?.state === "RUNNING" || run?.state === "FAILED";
const lostLease = (what: string) => `${what}: the lease was lost or the schedule moved on (another scheduler?)`;

/**
 * ScheduleStore in one process's memory: the contract of DynamoScheduleStore (test/contract/schedule-store.contract.ts
 * runs both), with the same conditions, errors and return values. Each method checks every condition of what would
 * be one DynamoDB transaction before it writes anything, and never awaits in between, so a failed one leaves no trace.
 */
export class MemoryScheduleStore implements ScheduleStore {
  private readonly clock: Clock;
  private readonly schedules = new Map<string, Meta>();
  private readonly runs = new Map<string, Map<number, RunRecord>>();

  constructor(options: MemoryScheduleStoreOptions) {
    this.clock = options.clock;
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  async ensureSchedule(name: string): Promise<ScheduleRecord> {
    if (!this.schedules.has(name)) this.schedules.set(name, { name, lastSeq: 0, updatedAt: this.iso() });
    return toSchedule(this.schedules.get(name) as Meta);
  }

  async getSchedule(name: string): Promise<ScheduleRecord | null> {
    const meta = this.schedules.get(name);
    return meta ? toSchedule(meta) : null;
  }

  async listSchedules(options: { limit?: number } = {}): Promise<ScheduleRecord[]> {
    const limit = options.limit ?? 100;
    checkLimit(limit, "listing schedules");
    const names = [...this.schedules.keys()].sort(byteOrder).slice(0, limit);
    return names.map((n) => toSchedule(this.schedules.get(n) as Meta));
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.now();
    const meta = this.schedules.get(name);
    // `leaseUntil < now` on an absent leaseUntil is false in DynamoDB, as `undefined < now` is here.
    const free = meta && (meta.leaseOwner === undefined || meta.leaseOwner === owner || (meta.leaseUntil as number) < now);
    if (!meta || !free) return false;
    meta.leaseOwner = owner;
    meta.leaseUntil = now + ttlMs;
    return true;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    const meta = this.schedules.get(name);
    if (meta?.leaseOwner !== owner) return;
    delete meta.leaseOwner;
    delete meta.leaseUntil;
  }

  async startRun(name: string, owner: string, run: NewRun): Promise<RunRecord> {
    const now = this.iso();
    const meta = this.schedules.get(name);
    const runs = this.runs.get(name);
    const ok =
      meta?.leaseOwner === owner &&
      meta.lastSeq === run.seq - 1 &&
      meta.currentRun === undefined &&
      (run.seq === 1 ? meta.watermark === undefined : meta.watermark !== undefined && meta.watermark === run.lo) &&
      !runs?.has(run.seq);
    if (!ok) throw new ScheduleConflictError(name, lostLease(`starting run ${run.seq}`));
    const record: RunRecord = {
      ...copy(run),
      name,
      state: "RUNNING",
      attempt: 1,
      exportId: null,
      rows: 0,
      bytes: 0,
      quality: [],
      manifestKey: null,
      error: null,
      startedAt: now,
      finishedAt: null,
      updatedAt: now,
    };
    this.runs.set(name, (runs ?? new Map()).set(run.seq, record));
    Object.assign(meta, { currentRun: run.seq, lastSeq: run.seq, updatedAt: now });
    return copy(record);
  }

  async updateRun(name: string, owner: string, seq: number, patch: RunPatch): Promise<RunRecord> {
    const meta = this.schedules.get(name);
    const run = this.runs.get(name)?.get(seq);
    if (meta?.leaseOwner !== owner || meta.currentRun !== seq || !run || !finishable(run)) {
      throw new ScheduleConflictError(name, lostLease(`updating run ${seq}`));
    }
    Object.assign(run, copy(patch), { updatedAt: this.iso() });
    return copy(run);
  }

  async commitRun(name: string, owner: string, seq: number, result: RunResult): Promise<RunRecord> {
    const run = this.runs.get(name)?.get(seq);
    if (!run) throw new ScheduleConflictError(name, `run ${seq} does not exist`);
    const meta = this.schedules.get(name);
    // The first run starts after nothing or after incremental.startAfter; every later one exactly at the watermark.
    const atWatermark = seq === 1 ? meta?.watermark === undefined : meta?.watermark !== undefined && meta.watermark === run.lo;
    if (meta?.leaseOwner !== owner || meta.currentRun !== seq || !atWatermark || !finishable(run)) {
      throw new ScheduleConflictError(name, lostLease(`committing run ${seq} (watermark ${run.lo ?? "none"} -> ${run.hi})`));
    }
    const before = copy(run);
    const now = this.iso();
    const { state, rows, bytes, quality, manifestKey } = copy(result);
    Object.assign(run, { state, rows, bytes, quality, manifestKey, finishedAt: now, updatedAt: now, error: null });
    Object.assign(meta, { watermark: run.hi, lastSchema: copy(run.schema), lastColumns: copy(run.columns), updatedAt: now });
    delete meta.currentRun;
    // DynamoScheduleStore answers with the run it read plus the result as given, not with a re-read.
    return { ...before, ...copy(result), finishedAt: now, updatedAt: now, error: null };
  }

  async touch(name: string, owner: string, note: string): Promise<void> {
    const meta = this.schedules.get(name);
    if (meta?.leaseOwner !== owner) throw new ScheduleConflictError(name, `the lease is no longer held by ${owner}`);
    Object.assign(meta, { lastCheckedAt: this.iso(), lastNote: note });
  }

  async getRun(name: string, seq: number): Promise<RunRecord | null> {
    const run = this.runs.get(name)?.get(seq);
    return run ? copy(run) : null;
  }

  async listRuns(name: string, options: { limit?: number } = {}): Promise<RunRecord[]> {
    const limit = options.limit ?? 50;
    checkLimit(limit, `listing runs of schedule ${name}`);
    const runs = [...(this.runs.get(name)?.values() ?? [])];
    // DynamoDB orders runs by their zero-padded sort key; numeric order is the same up to 10^8 runs.
    return runs
      .sort((a, b) => b.seq - a.seq)
      .slice(0, limit)
      .map(copy);
  }
}

function toSchedule(meta: Meta): ScheduleRecord {
  return {
    name: meta.name,
    watermark: meta.watermark ?? null,
    lastSeq: meta.lastSeq,
    currentRun: meta.currentRun ?? null,
    leaseOwner: meta.leaseOwner ?? null,
    leaseUntil: meta.leaseUntil ?? null,
    lastSchema: copy(meta.lastSchema) ?? null,
    lastColumns: copy(meta.lastColumns) ?? null,
    lastCheckedAt: meta.lastCheckedAt ?? null,
    lastNote: meta.lastNote ?? null,
    updatedAt: meta.updatedAt,
  };
}
