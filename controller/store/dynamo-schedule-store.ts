import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { Clock } from "../../lib/clock.ts";
import { conditionalUpdate, type DynamoContext, dynamoContext, getItem, queryAll, type TxItem, transact } from "../../lib/dynamo/access.ts";
import { GSI1, type Item, iso, META, schedulePk as pk, RUN_PREFIX, runSk, SCHEDULES_KEY } from "../../lib/dynamo/keys.ts";
import {
  type NewRun,
  type RunPatch,
  type RunRecord,
  type RunResult,
  ScheduleConflictError,
  type ScheduleRecord,
  type ScheduleStore,
} from "./schedule-store.ts";

/**
 * ScheduleStore over the state table (layout: SCHED#<name> / META for the schedule, SCHED#<name> / RUN#<seq:8> for
 * each run). META is on the GSI under its own key (gsi1pk SCHEDULES, gsi1sk the name) so `status` can list schedules;
 * claimers and reapers query their own queue keys and never see it. Runs are not on the GSI. Watermarks are exact text.
 * Every request goes through lib/dynamo/access.ts, so a transaction that only conflicted with another is retried there and
 * never reported as a lost lease.
 */
export interface DynamoScheduleStoreDeps {
  client: DynamoDBClient;
  tableName: string;
  clock: Clock;
}

export class DynamoScheduleStore implements ScheduleStore {
  private readonly ctx: DynamoContext;

  constructor(deps: DynamoScheduleStoreDeps) {
    this.ctx = dynamoContext(deps);
  }

  private iso(): string {
    return iso(this.ctx.clock.now());
  }

  async ensureSchedule(name: string): Promise<ScheduleRecord> {
    await conditionalUpdate(
      this.ctx,
      {
        Key: { pk: pk(name), sk: META },
        UpdateExpression: "SET #n = :n, lastSeq = :z, updatedAt = :t, gsi1pk = :g, gsi1sk = :n",
        ConditionExpression: "attribute_not_exists(pk)",
        ExpressionAttributeNames: { "#n": "name" },
        ExpressionAttributeValues: { ":n": name, ":z": 0, ":t": this.iso(), ":g": SCHEDULES_KEY },
        ReturnValues: "NONE",
      },
      `creating schedule ${name}`,
    );
    const item = await this.getItem(name);
    if (!item) throw new Error(`schedule ${name} vanished right after it was created`);
    if (item.gsi1pk !== SCHEDULES_KEY) {
      // Created before schedules were listed on the index: list it from now on (`status` finds schedules there).
      await conditionalUpdate(
        this.ctx,
        {
          Key: { pk: pk(name), sk: META },
          UpdateExpression: "SET gsi1pk = :g, gsi1sk = :n",
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeValues: { ":g": SCHEDULES_KEY, ":n": name },
          ReturnValues: "NONE",
        },
        `listing schedule ${name} on the index`,
      );
    }
    return toSchedule(item);
  }

  async listSchedules(options: { limit?: number } = {}): Promise<ScheduleRecord[]> {
    const limit = options.limit ?? 100;
    const items = await queryAll(
      this.ctx,
      { IndexName: GSI1, KeyConditionExpression: "gsi1pk = :g", ExpressionAttributeValues: { ":g": SCHEDULES_KEY }, Limit: limit },
      "listing schedules",
      limit,
    );
    return items.map(toSchedule);
  }

  private getItem(name: string): Promise<Item | null> {
    return getItem(this.ctx, { pk: pk(name), sk: META }, `reading schedule ${name}`);
  }

  async getSchedule(name: string): Promise<ScheduleRecord | null> {
    const item = await this.getItem(name);
    return item ? toSchedule(item) : null;
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.ctx.clock.now();
    const taken = await conditionalUpdate(
      this.ctx,
      {
        Key: { pk: pk(name), sk: META },
        UpdateExpression: "SET leaseOwner = :o, leaseUntil = :u",
        ConditionExpression: "attribute_exists(pk) AND (attribute_not_exists(leaseOwner) OR leaseOwner = :o OR leaseUntil < :now)",
        ExpressionAttributeValues: { ":o": owner, ":u": now + ttlMs, ":now": now },
        ReturnValues: "NONE",
      },
      `taking the lease of schedule ${name} for ${owner}`,
    );
    return taken !== null;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await conditionalUpdate(
      this.ctx,
      {
        Key: { pk: pk(name), sk: META },
        UpdateExpression: "REMOVE leaseOwner, leaseUntil",
        ConditionExpression: "leaseOwner = :o",
        ExpressionAttributeValues: { ":o": owner },
        ReturnValues: "NONE",
      },
      `releasing the lease of schedule ${name}`,
    );
  }

  async startRun(name: string, owner: string, run: NewRun): Promise<RunRecord> {
    const now = this.iso();
    const record: RunRecord = {
      ...run,
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
    const items: TxItem[] = [
      {
        Put: {
          TableName: this.ctx.table,
          Item: { pk: pk(name), sk: runSk(run.seq), ...record },
          ConditionExpression: "attribute_not_exists(pk)",
        },
      },
      {
        Update: {
          TableName: this.ctx.table,
          Key: { pk: pk(name), sk: META },
          UpdateExpression: "SET currentRun = :s, lastSeq = :s, updatedAt = :t",
          ConditionExpression:
            "leaseOwner = :o AND lastSeq = :prev AND attribute_not_exists(currentRun) AND " +
            (run.seq === 1 ? "attribute_not_exists(watermark)" : "watermark = :lo"),
          ExpressionAttributeValues: {
            ":s": run.seq,
            ":prev": run.seq - 1,
            ":o": owner,
            ":t": now,
            ...(run.seq === 1 ? {} : { ":lo": run.lo }),
          },
        },
      },
    ];
    await this.transact(name, `starting run ${run.seq}`, items);
    return record;
  }

  async updateRun(name: string, owner: string, seq: number, patch: RunPatch): Promise<RunRecord> {
    const fields = Object.entries({ ...patch, updatedAt: this.iso() }).filter(([, v]) => v !== undefined);
    const names = Object.fromEntries(fields.map(([k], i) => [`#f${i}`, k]));
    const values = Object.fromEntries(fields.map(([, v], i) => [`:f${i}`, v]));
    const items: TxItem[] = [
      {
        ConditionCheck: {
          TableName: this.ctx.table,
          Key: { pk: pk(name), sk: META },
          ConditionExpression: "leaseOwner = :o AND currentRun = :s",
          ExpressionAttributeValues: { ":o": owner, ":s": seq },
        },
      },
      {
        Update: {
          TableName: this.ctx.table,
          Key: { pk: pk(name), sk: runSk(seq) },
          UpdateExpression: `SET ${fields.map((_, i) => `#f${i} = :f${i}`).join(", ")}`,
          ConditionExpression: "#st IN (:running, :failed)",
          ExpressionAttributeNames: { ...names, "#st": "state" },
          ExpressionAttributeValues: { ...values, ":running": "RUNNING", ":failed": "FAILED" },
        },
      },
    ];
    await this.transact(name, `updating run ${seq}`, items);
    const run = await this.getRun(name, seq);
    if (!run) throw new Error(`run ${seq} of schedule ${name} vanished`);
    return run;
  }

  async commitRun(name: string, owner: string, seq: number, result: RunResult): Promise<RunRecord> {
    const run = await this.getRun(name, seq);
    if (!run) throw new ScheduleConflictError(name, `run ${seq} does not exist`);
    const now = this.iso();
    const items: TxItem[] = [
      {
        Update: {
          TableName: this.ctx.table,
          Key: { pk: pk(name), sk: runSk(seq) },
          UpdateExpression:
            "SET #st = :state, #rows = :rows, bytes = :bytes, quality = :q, manifestKey = :m, finishedAt = :t, updatedAt = :t, #err = :null",
          ConditionExpression: "#st IN (:running, :failed)",
          ExpressionAttributeNames: { "#st": "state", "#rows": "rows", "#err": "error" },
          ExpressionAttributeValues: {
            ":state": result.state,
            ":rows": result.rows,
            ":bytes": result.bytes,
            ":q": result.quality,
            ":m": result.manifestKey,
            ":t": now,
            ":null": null,
            ":running": "RUNNING",
            ":failed": "FAILED",
          },
        },
      },
      {
        Update: {
          TableName: this.ctx.table,
          Key: { pk: pk(name), sk: META },
          UpdateExpression: "SET watermark = :hi, lastSchema = :schema, lastColumns = :cols, updatedAt = :t REMOVE currentRun",
          // The first run starts after nothing or after incremental.startAfter; every later one exactly at the watermark.
          ConditionExpression: `leaseOwner = :o AND currentRun = :s AND ${seq === 1 ? "attribute_not_exists(watermark)" : "watermark = :lo"}`,
          ExpressionAttributeValues: {
            ":hi": run.hi,
            ":schema": run.schema,
            ":cols": run.columns,
            ":t": now,
            ":o": owner,
            ":s": seq,
            ...(seq === 1 ? {} : { ":lo": run.lo }),
          },
        },
      },
    ];
    await this.transact(name, `committing run ${seq} (watermark ${run.lo ?? "none"} -> ${run.hi})`, items);
    return { ...run, ...result, finishedAt: now, updatedAt: now, error: null };
  }

  async touch(name: string, owner: string, note: string): Promise<void> {
    const held = await conditionalUpdate(
      this.ctx,
      {
        Key: { pk: pk(name), sk: META },
        UpdateExpression: "SET lastCheckedAt = :t, lastNote = :n",
        ConditionExpression: "leaseOwner = :o",
        ExpressionAttributeValues: { ":t": this.iso(), ":n": note, ":o": owner },
        ReturnValues: "NONE",
      },
      `recording a check of schedule ${name}`,
    );
    if (held === null) throw new ScheduleConflictError(name, `the lease is no longer held by ${owner}`);
  }

  async getRun(name: string, seq: number): Promise<RunRecord | null> {
    const item = await getItem(this.ctx, { pk: pk(name), sk: runSk(seq) }, `reading run ${seq} of schedule ${name}`);
    return item ? toRun(item) : null;
  }

  async listRuns(name: string, options: { limit?: number } = {}): Promise<RunRecord[]> {
    const limit = options.limit ?? 50;
    // Pages of 1 MB: a long-lived schedule (288 runs a day at 5 minutes) needs several for `schedule verify`.
    const items = await queryAll(
      this.ctx,
      {
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :run)",
        ExpressionAttributeValues: { ":pk": pk(name), ":run": RUN_PREFIX },
        ScanIndexForward: false,
        Limit: limit,
      },
      `listing runs of schedule ${name}`,
      limit,
    );
    return items.map(toRun);
  }

  /** A failed condition means the lease was lost or the schedule moved on; a mere conflict was retried in transact. */
  private async transact(name: string, what: string, items: TxItem[]): Promise<void> {
    const outcome = await transact(this.ctx, items, `schedule ${name}: ${what}`);
    if (!outcome.ok) throw new ScheduleConflictError(name, `${what}: the lease was lost or the schedule moved on (another scheduler?)`);
  }
}

function toSchedule(item: Item): ScheduleRecord {
  return {
    name: item.name as string,
    watermark: (item.watermark as string | undefined) ?? null,
    lastSeq: Number(item.lastSeq ?? 0),
    currentRun: item.currentRun === undefined || item.currentRun === null ? null : Number(item.currentRun),
    leaseOwner: (item.leaseOwner as string | undefined) ?? null,
    leaseUntil: item.leaseUntil === undefined ? null : Number(item.leaseUntil),
    lastSchema: (item.lastSchema as ScheduleRecord["lastSchema"]) ?? null,
    lastColumns: (item.lastColumns as string[] | undefined) ?? null,
    lastCheckedAt: (item.lastCheckedAt as string | undefined) ?? null,
    lastNote: (item.lastNote as string | undefined) ?? null,
    updatedAt: item.updatedAt as string,
  };
}

function toRun(item: Item): RunRecord {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as unknown as RunRecord;
}
