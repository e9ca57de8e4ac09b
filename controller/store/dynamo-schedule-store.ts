import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { Clock } from "../../lib/clock.ts";
import { GSI1 } from "./dynamo-keys.ts";
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
 */
export interface DynamoScheduleStoreDeps {
  client: DynamoDBClient;
  tableName: string;
  clock: Clock;
}

type Item = Record<string, unknown>;
const pk = (name: string) => `SCHED#${name}`;
const SCHEDULES_KEY = "SCHEDULES";
const META = "META";
const runSk = (seq: number) => `RUN#${String(seq).padStart(8, "0")}`;
const isConditionFailure = (err: unknown) =>
  ["ConditionalCheckFailedException", "TransactionCanceledException"].includes((err as { name?: string }).name ?? "");

export class DynamoScheduleStore implements ScheduleStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly clock: Clock;

  constructor(deps: DynamoScheduleStoreDeps) {
    this.doc = DynamoDBDocumentClient.from(deps.client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = deps.tableName;
    this.clock = deps.clock;
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  async ensureSchedule(name: string): Promise<ScheduleRecord> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(name), sk: META },
          UpdateExpression: "SET #n = :n, lastSeq = :z, updatedAt = :t, gsi1pk = :g, gsi1sk = :n",
          ConditionExpression: "attribute_not_exists(pk)",
          ExpressionAttributeNames: { "#n": "name" },
          ExpressionAttributeValues: { ":n": name, ":z": 0, ":t": this.iso(), ":g": SCHEDULES_KEY },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw new Error(`creating schedule ${name}`, { cause: err });
    }
    const item = await this.getItem(name);
    if (!item) throw new Error(`schedule ${name} vanished right after it was created`);
    if (item.gsi1pk !== SCHEDULES_KEY) {
      // Created before schedules were listed on the index: list it from now on (`status` finds schedules there).
      await this.doc
        .send(
          new UpdateCommand({
            TableName: this.table,
            Key: { pk: pk(name), sk: META },
            UpdateExpression: "SET gsi1pk = :g, gsi1sk = :n",
            ExpressionAttributeValues: { ":g": SCHEDULES_KEY, ":n": name },
          }),
        )
        .catch((cause) => {
          throw new Error(`listing schedule ${name} on the index`, { cause });
        });
    }
    return toSchedule(item);
  }

  async listSchedules(options: { limit?: number } = {}): Promise<ScheduleRecord[]> {
    const limit = options.limit ?? 100;
    const out: ScheduleRecord[] = [];
    let start: Record<string, unknown> | undefined;
    try {
      do {
        const res = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: GSI1,
            KeyConditionExpression: "gsi1pk = :g",
            ExpressionAttributeValues: { ":g": SCHEDULES_KEY },
            Limit: limit - out.length,
            ExclusiveStartKey: start,
          }),
        );
        out.push(...(res.Items ?? []).map(toSchedule));
        start = res.LastEvaluatedKey;
      } while (start && out.length < limit);
    } catch (cause) {
      throw new Error("listing schedules", { cause });
    }
    return out;
  }

  private async getItem(name: string): Promise<Item | null> {
    const res = await this.doc
      .send(new GetCommand({ TableName: this.table, Key: { pk: pk(name), sk: META }, ConsistentRead: true }))
      .catch((cause) => {
        throw new Error(`reading schedule ${name}`, { cause });
      });
    return (res.Item as Item | undefined) ?? null;
  }

  async getSchedule(name: string): Promise<ScheduleRecord | null> {
    const item = await this.getItem(name);
    return item ? toSchedule(item) : null;
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.now();
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(name), sk: META },
          UpdateExpression: "SET leaseOwner = :o, leaseUntil = :u",
          ConditionExpression: "attribute_exists(pk) AND (attribute_not_exists(leaseOwner) OR leaseOwner = :o OR leaseUntil < :now)",
          ExpressionAttributeValues: { ":o": owner, ":u": now + ttlMs, ":now": now },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw new Error(`taking the lease of schedule ${name} for ${owner}`, { cause: err });
    }
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(name), sk: META },
          UpdateExpression: "REMOVE leaseOwner, leaseUntil",
          ConditionExpression: "leaseOwner = :o",
          ExpressionAttributeValues: { ":o": owner },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw new Error(`releasing the lease of schedule ${name}`, { cause: err });
    }
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
    const items: TransactWriteCommandInput["TransactItems"] = [
      {
        Put: {
          TableName: this.table,
          Item: { pk: pk(name), sk: runSk(run.seq), ...record },
          ConditionExpression: "attribute_not_exists(pk)",
        },
      },
      {
        Update: {
          TableName: this.table,
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
    const items: TransactWriteCommandInput["TransactItems"] = [
      {
        ConditionCheck: {
          TableName: this.table,
          Key: { pk: pk(name), sk: META },
          ConditionExpression: "leaseOwner = :o AND currentRun = :s",
          ExpressionAttributeValues: { ":o": owner, ":s": seq },
        },
      },
      {
        Update: {
          TableName: this.table,
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
    const items: TransactWriteCommandInput["TransactItems"] = [
      {
        Update: {
          TableName: this.table,
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
          TableName: this.table,
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
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(name), sk: META },
          UpdateExpression: "SET lastCheckedAt = :t, lastNote = :n",
          ConditionExpression: "leaseOwner = :o",
          ExpressionAttributeValues: { ":t": this.iso(), ":n": note, ":o": owner },
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) throw new ScheduleConflictError(name, `the lease is no longer held by ${owner}`);
      throw new Error(`recording a check of schedule ${name}`, { cause: err });
    }
  }

  async getRun(name: string, seq: number): Promise<RunRecord | null> {
    const res = await this.doc
      .send(new GetCommand({ TableName: this.table, Key: { pk: pk(name), sk: runSk(seq) }, ConsistentRead: true }))
      .catch((cause) => {
        throw new Error(`reading run ${seq} of schedule ${name}`, { cause });
      });
    return res.Item ? toRun(res.Item) : null;
  }

  async listRuns(name: string, options: { limit?: number } = {}): Promise<RunRecord[]> {
    const limit = options.limit ?? 50;
    const out: RunRecord[] = [];
    let start: Record<string, unknown> | undefined;
    try {
      // Pages of 1 MB: a long-lived schedule (288 runs a day at 5 minutes) needs several for `schedule verify`.
      do {
        const res = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: "pk = :pk AND begins_with(sk, :run)",
            ExpressionAttributeValues: { ":pk": pk(name), ":run": "RUN#" },
            ScanIndexForward: false,
            Limit: limit - out.length,
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        );
        out.push(...(res.Items ?? []).map(toRun));
        start = res.LastEvaluatedKey;
      } while (start && out.length < limit);
    } catch (cause) {
      throw new Error(`listing runs of schedule ${name}`, { cause });
    }
    return out;
  }

  private async transact(name: string, what: string, items: TransactWriteCommandInput["TransactItems"]): Promise<void> {
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (err) {
      if (isConditionFailure(err))
        throw new ScheduleConflictError(name, `${what}: the lease was lost or the schedule moved on (another scheduler?)`);
      throw new Error(`schedule ${name}: ${what}`, { cause: err });
    }
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
