import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { PoolSpec } from "../../config/pool-spec.ts";
import { type NodeRecord, nodeRecord, type PoolRecord, poolRecord } from "../../config/records.ts";
import type { Clock } from "../../lib/clock.ts";
import {
  conditionalPut,
  conditionalUpdate,
  type DynamoContext,
  dynamoContext,
  getItem,
  queryAll,
  type StoreStats,
} from "../../lib/dynamo/access.ts";
import { GSI1, type Item, iso, LEADER_PK, META, nodeSk, POOLS_KEY, poolPk } from "../../lib/dynamo/keys.ts";
import type { FleetStore, LaunchIntent, LeaderLease, NodeChange, PoolChange, PoolCounters } from "./fleet-store.ts";

/** Sort key of a pool's launch record (next to its META and NODE# items). */
const LAUNCH_SK = "LAUNCH";

export interface DynamoFleetStoreDeps {
  client: DynamoDBClient;
  tableName: string;
  clock: Clock;
}

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

/** FleetStore over the single state table (see fleet-store.ts for the contract), through lib/dynamo/access.ts. */
export class DynamoFleetStore implements FleetStore {
  private readonly ctx: DynamoContext;

  constructor(deps: DynamoFleetStoreDeps) {
    this.ctx = dynamoContext(deps);
  }

  /** Request counters since construction (reads, conditional writes), for benchmarks. */
  get stats(): Readonly<StoreStats> {
    return { ...this.ctx.stats };
  }

  private now(): string {
    return iso(this.ctx.clock.now());
  }

  async applyPool(spec: PoolSpec): Promise<{ record: PoolRecord; created: boolean }> {
    const what = `applying pool ${spec.name}`;
    const fresh = poolRecord.parse({ pool: spec.name, spec, generation: 1, desiredSize: spec.capacity.min, updatedAt: this.now() });
    const created = await conditionalPut(
      this.ctx,
      {
        Item: { pk: poolPk(spec.name), sk: META, type: "POOL", gsi1pk: POOLS_KEY, gsi1sk: spec.name, ...fresh },
        ConditionExpression: "attribute_not_exists(pk)",
      },
      what,
    );
    if (created) return { record: fresh, created: true };
    // Existing pool: only the spec changes; generation, counters and capacity memory are the controller's.
    const item = await conditionalUpdate(
      this.ctx,
      {
        Key: { pk: poolPk(spec.name), sk: META },
        UpdateExpression: "SET #spec = :spec, #updatedAt = :now, #version = #version + :one",
        ExpressionAttributeNames: { "#spec": "spec", "#updatedAt": "updatedAt", "#version": "version" },
        ExpressionAttributeValues: { ":spec": spec, ":now": this.now(), ":one": 1 },
        ConditionExpression: "attribute_exists(pk)",
      },
      what,
    );
    if (!item) throw new Error(`${what}: the pool was deleted meanwhile`);
    return { record: poolRecord.parse(strip(item)), created: false };
  }

  async getPool(name: string): Promise<PoolRecord | null> {
    const item = await getItem(this.ctx, { pk: poolPk(name), sk: META }, `reading pool ${name}`);
    return item ? poolRecord.parse(strip(item)) : null;
  }

  async listPools(): Promise<PoolRecord[]> {
    const items = await queryAll(
      this.ctx,
      { IndexName: GSI1, KeyConditionExpression: "gsi1pk = :k", ExpressionAttributeValues: { ":k": POOLS_KEY } },
      "listing pools",
    );
    return items.map((item) => poolRecord.parse(strip(item)));
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
    const item = await conditionalUpdate(
      this.ctx,
      {
        Key: { pk: poolPk(name), sk: META },
        UpdateExpression: "SET #g = #g + :one, #v = #v + :one, #r = :now, #u = :now",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeNames: { "#g": "generation", "#v": "version", "#r": "rotateRequestedAt", "#u": "updatedAt" },
        ExpressionAttributeValues: { ":one": 1, ":now": now },
      },
      `rotating pool ${name}`,
    );
    if (!item) throw new Error(`rotating pool ${name}: no such pool (apply it first)`);
    return poolRecord.parse(strip(item));
  }

  async addPoolCounters(name: string, add: PoolCounters): Promise<void> {
    const entries = Object.entries(add).filter(([, v]) => v);
    if (!entries.length) return;
    const what = `counting ${entries.map(([k, v]) => `${v} ${k}`).join(", ")} for pool ${name}`;
    const item = await conditionalUpdate(
      this.ctx,
      {
        Key: { pk: poolPk(name), sk: META },
        UpdateExpression: `ADD ${entries.map(([k]) => `#${k} :${k}`).join(", ")}`,
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeNames: Object.fromEntries(entries.map(([k]) => [`#${k}`, k])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([k, v]) => [`:${k}`, v])),
        ReturnValues: "NONE",
      },
      what,
    );
    if (!item) throw new Error(`${what}: no such pool`);
  }

  async putNode(node: NodeRecord): Promise<boolean> {
    return conditionalPut(
      this.ctx,
      {
        Item: { pk: poolPk(node.pool), sk: nodeSk(node.instanceId), type: "NODE", ...nodeRecord.parse(node) },
        ConditionExpression: "attribute_not_exists(pk)",
      },
      `recording node ${node.instanceId} of pool ${node.pool}`,
    );
  }

  async getNode(pool: string, instanceId: string): Promise<NodeRecord | null> {
    const item = await getItem(this.ctx, { pk: poolPk(pool), sk: nodeSk(instanceId) }, `reading node ${instanceId} of pool ${pool}`);
    return item ? nodeRecord.parse(strip(item)) : null;
  }

  async listNodes(pool: string): Promise<NodeRecord[]> {
    const items = await queryAll(
      this.ctx,
      {
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :node)",
        ExpressionAttributeValues: { ":pk": poolPk(pool), ":node": nodeSk("") },
      },
      `listing the nodes of pool ${pool}`,
    );
    return items.map((item) => nodeRecord.parse(strip(item)));
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
    const item = await conditionalUpdate(
      this.ctx,
      {
        Key: key,
        UpdateExpression: update.expr,
        ConditionExpression: "attribute_exists(pk) AND #version = :expected",
        ExpressionAttributeNames: update.names,
        ExpressionAttributeValues: { ...update.values, ":expected": expectedVersion },
      },
      what(),
    );
    return item && strip(item);
  }

  async acquireLeadership(owner: string, leaseMs: number): Promise<LeaderLease | null> {
    const now = this.ctx.clock.now();
    // One conditional write covers take-free, take-expired and renew; the term moves only when the owner changes.
    const current = await this.getLeader();
    const term = current && current.owner === owner ? current.term : (current?.term ?? 0) + 1;
    const taken = await conditionalPut(
      this.ctx,
      {
        Item: { pk: LEADER_PK, sk: META, type: "LEADER", owner, expiresAt: now + leaseMs, term, renewedAt: iso(now) },
        ConditionExpression: current ? "#term = :term AND (#owner = :me OR #expiresAt < :now)" : "attribute_not_exists(pk)",
        ExpressionAttributeNames: current ? { "#term": "term", "#owner": "owner", "#expiresAt": "expiresAt" } : undefined,
        ExpressionAttributeValues: current ? { ":term": current.term, ":me": owner, ":now": now } : undefined,
      },
      `acquiring the controller leader lease for ${owner}`,
    );
    return taken ? { owner, expiresAt: now + leaseMs, term } : null;
  }

  async releaseLeadership(owner: string): Promise<void> {
    await conditionalUpdate(
      this.ctx,
      {
        Key: { pk: LEADER_PK, sk: META },
        UpdateExpression: "SET #expiresAt = :zero",
        ConditionExpression: "#owner = :me",
        ExpressionAttributeNames: { "#expiresAt": "expiresAt", "#owner": "owner" },
        ExpressionAttributeValues: { ":zero": 0, ":me": owner },
        ReturnValues: "NONE",
      },
      `releasing the controller leader lease of ${owner}`,
    );
  }

  async getLeader(): Promise<LeaderLease | null> {
    const item = await getItem(this.ctx, { pk: LEADER_PK, sk: META }, "reading the controller leader lease");
    return item ? { owner: String(item.owner), expiresAt: Number(item.expiresAt), term: Number(item.term) } : null;
  }

  async openLaunch(intent: Omit<LaunchIntent, "open">): Promise<boolean> {
    const first = intent.seq === 1;
    return conditionalPut(
      this.ctx,
      {
        Item: { pk: poolPk(intent.pool), sk: LAUNCH_SK, type: "LAUNCH", ...intent, open: true },
        ConditionExpression: first ? "attribute_not_exists(pk)" : "#seq = :prev AND #open = :closed",
        ExpressionAttributeNames: first ? undefined : { "#seq": "seq", "#open": "open" },
        ExpressionAttributeValues: first ? undefined : { ":prev": intent.seq - 1, ":closed": false },
      },
      `recording launch ${intent.seq} of pool ${intent.pool}`,
    );
  }

  async getLaunch(pool: string): Promise<LaunchIntent | null> {
    const item = await getItem(this.ctx, { pk: poolPk(pool), sk: LAUNCH_SK }, `reading the last launch of pool ${pool}`);
    if (!item) return null;
    const { seq, clientToken, request, startedAt, open } = item;
    return {
      pool,
      seq: Number(seq),
      clientToken: String(clientToken),
      request: String(request),
      startedAt: String(startedAt),
      open: open === true,
    };
  }

  async closeLaunch(pool: string, seq: number): Promise<void> {
    await conditionalUpdate(
      this.ctx,
      {
        Key: { pk: poolPk(pool), sk: LAUNCH_SK },
        UpdateExpression: "SET #open = :closed",
        ConditionExpression: "#seq = :seq",
        ExpressionAttributeNames: { "#open": "open", "#seq": "seq" },
        ExpressionAttributeValues: { ":closed": false, ":seq": seq },
        ReturnValues: "NONE",
      },
      `closing launch ${seq} of pool ${pool}`,
    );
  }
}
