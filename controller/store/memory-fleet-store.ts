import type { PoolSpec } from "../../config/pool-spec.ts";
import { type NodeRecord, nodeRecord, type PoolRecord, poolRecord } from "../../config/records.ts";
import type { Clock } from "../../lib/clock.ts";
import type { FleetStore, LaunchIntent, LeaderLease, NodeChange, PoolChange, PoolCounters } from "./fleet-store.ts";
import { byteOrder, copy } from "./memory-items.ts";

export interface MemoryFleetStoreOptions {
  clock: Clock;
}

type Stored = Record<string, unknown>;

/**
 * FleetStore in one process's memory, for tests and tools that need no DynamoDB: the same contract as
 * DynamoFleetStore (test/contract/fleet-store.contract.ts runs both), down to its quirks. Every method does its
 * reads and writes without awaiting in between, which is what makes each one atomic here.
 */
export class MemoryFleetStore implements FleetStore {
  private readonly clock: Clock;
  /** Pool items as DynamoDB holds them: the spec as written, parsed (defaults filled in) only on the way out. */
  private readonly pools = new Map<string, Stored>();
  private readonly nodes = new Map<string, Map<string, Stored>>();
  private leader: LeaderLease | null = null;
  private readonly launches = new Map<string, LaunchIntent>();

  constructor(options: MemoryFleetStoreOptions) {
    this.clock = options.clock;
  }

  private now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  async applyPool(spec: PoolSpec): Promise<{ record: PoolRecord; created: boolean }> {
    const existing = this.pools.get(spec.name);
    if (!existing) {
      const fresh = poolRecord.parse({ pool: spec.name, spec, generation: 1, desiredSize: spec.capacity.min, updatedAt: this.now() });
      this.pools.set(spec.name, copy(fresh));
      return { record: copy(fresh), created: true };
    }
    Object.assign(existing, { spec: copy(spec), updatedAt: this.now(), version: Number(existing.version) + 1 });
    return { record: poolRecord.parse(copy(existing)), created: false };
  }

  async getPool(name: string): Promise<PoolRecord | null> {
    const item = this.pools.get(name);
    return item ? poolRecord.parse(copy(item)) : null;
  }

  async listPools(): Promise<PoolRecord[]> {
    return [...this.pools.keys()].sort(byteOrder).map((name) => poolRecord.parse(copy(this.pools.get(name))));
  }

  async updatePool(name: string, expectedVersion: number, set: PoolChange): Promise<PoolRecord | null> {
    const item = this.pools.get(name);
    if (!item || item.version !== expectedVersion) return null;
    Object.assign(item, copy(set), { version: expectedVersion + 1, updatedAt: this.now() });
    return poolRecord.parse(copy(item));
  }

  async bumpGeneration(name: string): Promise<PoolRecord> {
    const item = this.pools.get(name);
    if (!item) throw new Error(`rotating pool ${name}: no such pool (apply it first)`);
    const now = this.now();
    Object.assign(item, {
      generation: Number(item.generation) + 1,
      version: Number(item.version) + 1,
      rotateRequestedAt: now,
      updatedAt: now,
    });
    return poolRecord.parse(copy(item));
  }

  async addPoolCounters(name: string, add: PoolCounters): Promise<void> {
    const entries = Object.entries(add).filter(([, v]) => v);
    if (!entries.length) return;
    const item = this.pools.get(name);
    if (!item) throw new Error(`counting ${entries.map(([k, v]) => `${v} ${k}`).join(", ")} for pool ${name}: no such pool`);
    for (const [k, v] of entries) item[k] = Number(item[k] ?? 0) + Number(v);
  }

  /** Not async, like DynamoFleetStore.putNode: an invalid record throws synchronously rather than rejecting. */
  putNode(node: NodeRecord): Promise<boolean> {
    const record = nodeRecord.parse(node);
    return Promise.resolve(this.recordOnce(record));
  }

  private recordOnce(record: NodeRecord): boolean {
    const nodes = this.nodes.get(record.pool) ?? new Map<string, Stored>();
    this.nodes.set(record.pool, nodes);
    if (nodes.has(record.instanceId)) return false;
    nodes.set(record.instanceId, copy(record));
    return true;
  }

  async getNode(pool: string, instanceId: string): Promise<NodeRecord | null> {
    const item = this.nodes.get(pool)?.get(instanceId);
    return item ? nodeRecord.parse(copy(item)) : null;
  }

  async listNodes(pool: string): Promise<NodeRecord[]> {
    const nodes = this.nodes.get(pool) ?? new Map<string, Stored>();
    return [...nodes.keys()].sort(byteOrder).map((id) => nodeRecord.parse(copy(nodes.get(id))));
  }

  async updateNode(pool: string, instanceId: string, expectedVersion: number, set: NodeChange): Promise<NodeRecord | null> {
    const item = this.nodes.get(pool)?.get(instanceId);
    if (!item || item.version !== expectedVersion) return null;
    Object.assign(item, copy(set), { version: expectedVersion + 1 });
    return nodeRecord.parse(copy(item));
  }

  async acquireLeadership(owner: string, leaseMs: number): Promise<LeaderLease | null> {
    const now = this.clock.now();
    const current = this.leader;
    if (current && current.owner !== owner && !(current.expiresAt < now)) return null;
    const term = current && current.owner === owner ? current.term : (current?.term ?? 0) + 1;
    this.leader = { owner, expiresAt: now + leaseMs, term };
    return { ...this.leader };
  }

  async releaseLeadership(owner: string): Promise<void> {
    if (this.leader?.owner === owner) this.leader = { ...this.leader, expiresAt: 0 };
  }

  async getLeader(): Promise<LeaderLease | null> {
    return this.leader && { ...this.leader };
  }

  async openLaunch(intent: Omit<LaunchIntent, "open">): Promise<boolean> {
    const last = this.launches.get(intent.pool);
    const follows = last ? last.seq === intent.seq - 1 && !last.open : intent.seq === 1;
    if (follows) this.launches.set(intent.pool, { ...intent, open: true });
    return follows;
  }

  async getLaunch(pool: string): Promise<LaunchIntent | null> {
    const last = this.launches.get(pool);
    return last ? { ...last } : null;
  }

  async closeLaunch(pool: string, seq: number): Promise<void> {
    const last = this.launches.get(pool);
    if (last?.seq === seq) last.open = false;
  }
}
