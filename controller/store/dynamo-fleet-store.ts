import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { PoolSpec } from "../../config/pool-spec.ts";
import { type NodeRecord, nodeRecord, type PoolRecord, poolRecord } from "../../config/records.ts";
import type { Clock } from "../../lib/clock.ts";
import { type Item, iso, META } from "./dynamo-keys.ts";
import type { FleetStore, LeaderLease, NodeChange, PoolChange, PoolCounters } from "./fleet-store.ts";

export interface DynamoFleetStoreDeps {
  client: DynamoDBClient;
  tableName: string;
  clock: Clock;
}

export const poolPk = (name: string) => `POOL#${name}`;
export const nodeSk = (instanceId: string) => `NODE#${instanceId}`;
const LEADER_PK = "CONTROLLER#leader";
/** Pools are listed through the GSI like exports are, so listing never scans the table. */
const POOLS_KEY = "POOLS";

const errName = (err: unknown) => (err as { name?: string } | null)?.name;
const isConditionFailure = (err: unknown) => errName(err) === "ConditionalCheckFailedException";

function strip(item: Item): Item {
  const { pk: _pk, sk: _sk, type: _t, gsi1pk: _g, gsi1sk: _s, ...rest } = item;
  return rest;
}

/** Builds "SET #a = :a, ..." for the given fields plus version + 1 (and updatedAt when `now` is given). */
function setExpression(fields: Record<string, unknown>, now: string | null) {
  const names: Record<string, string> = { "#version": "version" };
  const values: Record<string, unknown> = { ":one": 1 };
  const parts = ["#version = #version + :one"];
  if (now !== null) {
    names["#updatedAt"] = "updatedAt";
    values[":now"] = now;
    parts.push("#updatedAt = :now");
  }
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    names[`#${k}`] = k;
    values[`:${k}`] = v;
    parts.push(`#${k} = :${k}`);
  }
  return { expr: `SET ${parts.join(", ")}`, names, values };
}

/** FleetStore over the single state table (see fleet-store.ts for the contract). */
export class DynamoFleetStore implements FleetStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly clock: Clock;

  constructor(deps: DynamoFleetStoreDeps) {
    this.doc = DynamoDBDocumentClient.from(deps.client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = deps.tableName;
    this.clock = deps.clock;
  }

  private now(): string {
    return iso(this.clock.now());
  }

  async applyPool(spec: PoolSpec): Promise<{ record: PoolRecord; created: boolean }> {
    const now = this.now();
    const what = `applying pool ${spec.name}`;
    try {
      const fresh = poolRecord.parse({
        pool: spec.name,
        spec,
        generation: 1,
        desiredSize: spec.capacity.min,
        updatedAt: now,
      });
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: poolPk(spec.name), sk: META, type: "POOL", gsi1pk: POOLS_KEY, gsi1sk: spec.name, ...fresh },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
      return { record: fresh, created: true };
    } catch (err) {
      if (!isConditionFailure(err)) throw new Error(what, { cause: err });
    }
    try {
      // Existing pool: only the spec changes; generation, counters and capacity memory are the controller's.
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: poolPk(spec.name), sk: META },
          UpdateExpression: "SET #spec = :spec, #updatedAt = :now, #version = #version + :one",
          ExpressionAttributeNames: { "#spec": "spec", "#updatedAt": "updatedAt", "#version": "version" },
          ExpressionAttributeValues: { ":spec": spec, ":now": now, ":one": 1 },
          ConditionExpression: "attribute_exists(pk)",
          ReturnValues: "ALL_NEW",
        }),
      );
      return { record: poolRecord.parse(strip(out.Attributes ?? {})), created: false };
    } catch (cause) {
      throw new Error(what, { cause });
    }
  }

  async getPool(name: string): Promise<PoolRecord | null> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: poolPk(name), sk: META }, ConsistentRead: true }));
      return out.Item ? poolRecord.parse(strip(out.Item)) : null;
    } catch (cause) {
      throw new Error(`reading pool ${name}`, { cause });
    }
  }

  async listPools(): Promise<PoolRecord[]> {
    const pools: PoolRecord[] = [];
    try {
      let start: Record<string, unknown> | undefined;
      do {
        const out = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: "gsi1",
            KeyConditionExpression: "gsi1pk = :k",
            ExpressionAttributeValues: { ":k": POOLS_KEY },
            ExclusiveStartKey: start,
          }),
        );
        for (const item of out.Items ?? []) pools.push(poolRecord.parse(strip(item)));
        start = out.LastEvaluatedKey;
      } while (start);
    } catch (cause) {
      throw new Error("listing pools", { cause });
    }
    return pools;
  }

  async updatePool(name: string, expectedVersion: number, set: PoolChange): Promise<PoolRecord | null> {
    const item = await this.versionedUpdate(
      { pk: poolPk(name), sk: META },
      expectedVersion,
      setExpression(set, this.now()),
      () => `updating pool ${name} (${Object.keys(set).join(", ")})`,
    );
    return item && poolRecord.parse(item);
  }

  async bumpGeneration(name: string): Promise<PoolRecord> {
    const now = this.now();
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: poolPk(name), sk: META },
          UpdateExpression: "SET #g = #g + :one, #v = #v + :one, #r = :now, #u = :now",
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeNames: { "#g": "generation", "#v": "version", "#r": "rotateRequestedAt", "#u": "updatedAt" },
          ExpressionAttributeValues: { ":one": 1, ":now": now },
          ReturnValues: "ALL_NEW",
        }),
      );
      return poolRecord.parse(strip(out.Attributes ?? {}));
    } catch (err) {
      if (isConditionFailure(err)) throw new Error(`rotating pool ${name}: no such pool (apply it first)`);
      throw new Error(`rotating pool ${name}`, { cause: err });
    }
  }

  async addPoolCounters(name: string, add: PoolCounters): Promise<void> {
    const entries = Object.entries(add).filter(([, v]) => v);
    if (!entries.length) return;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: poolPk(name), sk: META },
          UpdateExpression: `ADD ${entries.map(([k]) => `#${k} :${k}`).join(", ")}`,
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeNames: Object.fromEntries(entries.map(([k]) => [`#${k}`, k])),
          ExpressionAttributeValues: Object.fromEntries(entries.map(([k, v]) => [`:${k}`, v])),
        }),
      );
    } catch (cause) {
      throw new Error(`counting ${entries.map(([k, v]) => `${v} ${k}`).join(", ")} for pool ${name}`, { cause });
    }
  }

  async putNode(node: NodeRecord): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: poolPk(node.pool), sk: nodeSk(node.instanceId), type: "NODE", ...nodeRecord.parse(node) },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw new Error(`recording node ${node.instanceId} of pool ${node.pool}`, { cause: err });
    }
  }

  async getNode(pool: string, instanceId: string): Promise<NodeRecord | null> {
    try {
      const out = await this.doc.send(
        new GetCommand({ TableName: this.table, Key: { pk: poolPk(pool), sk: nodeSk(instanceId) }, ConsistentRead: true }),
      );
      return out.Item ? nodeRecord.parse(strip(out.Item)) : null;
    } catch (cause) {
      throw new Error(`reading node ${instanceId} of pool ${pool}`, { cause });
    }
  }

  async listNodes(pool: string): Promise<NodeRecord[]> {
    const nodes: NodeRecord[] = [];
    try {
      let start: Record<string, unknown> | undefined;
      do {
        const out = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: "pk = :pk AND begins_with(sk, :node)",
            ExpressionAttributeValues: { ":pk": poolPk(pool), ":node": "NODE#" },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        );
        for (const item of out.Items ?? []) nodes.push(nodeRecord.parse(strip(item)));
        start = out.LastEvaluatedKey;
      } while (start);
    } catch (cause) {
      throw new Error(`listing the nodes of pool ${pool}`, { cause });
    }
    return nodes;
  }

  async updateNode(pool: string, instanceId: string, expectedVersion: number, set: NodeChange): Promise<NodeRecord | null> {
    // Node items have no updatedAt of their own: the lifecycle timestamps say what happened when.
    const item = await this.versionedUpdate(
      { pk: poolPk(pool), sk: nodeSk(instanceId) },
      expectedVersion,
      setExpression(set, null),
      () => `updating node ${instanceId} of pool ${pool} (${Object.keys(set).join(", ")})`,
    );
    return item && nodeRecord.parse(item);
  }

  /** An update conditional on the item's version (optimistic concurrency); null when another writer got there first. */
  private async versionedUpdate(
    key: { pk: string; sk: string },
    expectedVersion: number,
    update: ReturnType<typeof setExpression>,
    what: () => string,
  ): Promise<Record<string, unknown> | null> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression: update.expr,
          ConditionExpression: "attribute_exists(pk) AND #version = :expected",
          ExpressionAttributeNames: update.names,
          ExpressionAttributeValues: { ...update.values, ":expected": expectedVersion },
          ReturnValues: "ALL_NEW",
        }),
      );
      return strip(out.Attributes ?? {});
    } catch (err) {
      if (isConditionFailure(err)) return null;
      throw new Error(what(), { cause: err });
    }
  }

  async acquireLeadership(owner: string, leaseMs: number): Promise<LeaderLease | null> {
    const now = this.clock.now();
    try {
      // One conditional write covers take-free, take-expired and renew; the term moves only when the owner changes.
      const current = await this.getLeader();
      const term = current && current.owner === owner ? current.term : (current?.term ?? 0) + 1;
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: LEADER_PK, sk: META, type: "LEADER", owner, expiresAt: now + leaseMs, term, renewedAt: iso(now) },
          ConditionExpression: current ? "#term = :term AND (#owner = :me OR #expiresAt < :now)" : "attribute_not_exists(pk)",
          ExpressionAttributeNames: current ? { "#term": "term", "#owner": "owner", "#expiresAt": "expiresAt" } : undefined,
          ExpressionAttributeValues: current ? { ":term": current.term, ":me": owner, ":now": now } : undefined,
        }),
      );
      return { owner, expiresAt: now + leaseMs, term };
    } catch (err) {
      if (isConditionFailure(err)) return null;
      throw new Error(`acquiring the controller leader lease for ${owner}`, { cause: err });
    }
  }

  async releaseLeadership(owner: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: LEADER_PK, sk: META },
          UpdateExpression: "SET #expiresAt = :zero",
          ConditionExpression: "#owner = :me",
          ExpressionAttributeNames: { "#expiresAt": "expiresAt", "#owner": "owner" },
          ExpressionAttributeValues: { ":zero": 0, ":me": owner },
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) return;
      throw new Error(`releasing the controller leader lease of ${owner}`, { cause: err });
    }
  }

  async getLeader(): Promise<LeaderLease | null> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: LEADER_PK, sk: META }, ConsistentRead: true }));
      if (!out.Item) return null;
      return { owner: String(out.Item.owner), expiresAt: Number(out.Item.expiresAt), term: Number(out.Item.term) };
    } catch (cause) {
      throw new Error("reading the controller leader lease", { cause });
    }
  }
}
