import type { PoolSpec } from "../../config/pool-spec.ts";
import type { NodeRecord, PoolRecord } from "../../config/records.ts";

/**
 * FleetStore: pools, their nodes and the controller's leader lease, in the same state table as the jobs (layout in
 * config/records.ts: POOL#<name>/META, POOL#<name>/NODE#<instanceId>, CONTROLLER#leader/META).
 *
 * Every write is conditional. Pool and node items carry a `version` counter; updates name the version they read and
 * return null (not throw) when someone else wrote in between, so a reconciler re-reads and decides again on its next
 * run. Only the leader controller writes pools and nodes, so such conflicts mean a bug or a lost leadership.
 * Infrastructure failures throw Errors wrapped with what was being done. Time comes from the store's Clock.
 */
export interface FleetStore {
  /**
   * Creates the pool (generation 1, desired size = min) or replaces its spec, keeping generation, counters and
   * capacity memory. Idempotent. A changed spec takes effect at the next launch (the template is re-rendered).
   */
  applyPool(spec: PoolSpec): Promise<{ record: PoolRecord; created: boolean }>;

  getPool(name: string): Promise<PoolRecord | null>;
  listPools(): Promise<PoolRecord[]>;

  /**
   * Sets fields of the pool item if its version is still `expectedVersion`; returns the new record (version + 1), or
   * null when the version moved (re-read) or the pool is gone.
   */
  updatePool(name: string, expectedVersion: number, set: PoolChange): Promise<PoolRecord | null>;

  /** Starts a whole-pool rotation: generation + 1 and rotateRequestedAt = now, unconditionally (an operator command). */
  bumpGeneration(name: string): Promise<PoolRecord>;

  /** Adds to the pool's running counters atomically (no version check: counters commute). */
  addPoolCounters(name: string, add: PoolCounters): Promise<void>;

  /** Records a node; false (and no write) when a record for this instance already exists. */
  putNode(node: NodeRecord): Promise<boolean>;

  getNode(pool: string, instanceId: string): Promise<NodeRecord | null>;

  /** Every node record of a pool (TERMINATED ones too, for cost accounting), in instance-id order. */
  listNodes(pool: string): Promise<NodeRecord[]>;

  /**
   * Sets fields of a node if its version is still `expectedVersion`; returns the new record (version + 1), or null
   * when the condition failed (re-read: someone changed the node in between) or the node is gone.
   */
  updateNode(pool: string, instanceId: string, expectedVersion: number, set: NodeChange): Promise<NodeRecord | null>;

  /**
   * Takes or renews the controller leader lease for `owner` until now + leaseMs: succeeds when the lease is free,
   * expired, or already held by `owner`. Returns the lease (with its term, +1 whenever ownership changes), or null
   * when another owner holds an unexpired lease. Two callers racing for a free lease: exactly one wins.
   */
  acquireLeadership(owner: string, leaseMs: number): Promise<LeaderLease | null>;

  /** Gives the lease up at once (only if `owner` still holds it), so a successor need not wait for expiry. */
  releaseLeadership(owner: string): Promise<void>;

  /** Who holds the lease now (whether or not expired); null when nobody ever did. */
  getLeader(): Promise<LeaderLease | null>;
}

export type PoolChange = Partial<
  Pick<
    PoolRecord,
    | "desiredSize"
    | "capacityErrors"
    | "spotShortSince"
    | "template"
    | "generation"
    | "rotateRequestedAt"
    | "owedReplacements"
    // Operators change capacity (`spotferry scale`) through the same version check.
    | "spec"
  >
>;

/** Counters added atomically; owedReplacements may be negative (provisioning pays them off). */
export type PoolCounters = Partial<Record<"interruptions" | "replacements" | "owedReplacements", number>>;

export type NodeChange = Partial<
  Pick<
    NodeRecord,
    | "lifecycle"
    | "heartbeatAt"
    | "currentPartition"
    | "terminatedAt"
    | "reason"
    | "readyAt"
    | "retiringAt"
    | "drainingAt"
    | "price"
    | "hostKeyFingerprint"
  >
>;

export interface LeaderLease {
  owner: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  /** Increases by one each time the lease changes hands: a fencing token for logs and metrics. */
  term: number;
}
