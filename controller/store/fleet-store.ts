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
 *
 * Records are copies: mutating one that was passed in or handed out never changes what is stored. Lists are in key
 * order (UTF-8 byte order of the name or instance id), not insertion order. Undefined fields are not written; null is.
 */
export interface FleetStore {
  /**
   * Creates the pool (`created: true`; generation 1, desired size = capacity.min, version 0, counters 0, no template)
   * or replaces the spec of an existing one (`created: false`), keeping generation, desired size, counters and capacity
   * memory: a new capacity.min does not move desiredSize (provisioning does). Idempotent in effect, but every apply of
   * an existing pool is a write (version + 1, updatedAt = now) even with an identical spec, so a reconciler's versioned
   * update racing it returns null and re-reads. A changed spec takes effect at the next launch (the template is
   * re-rendered).
   */
  applyPool(spec: PoolSpec): Promise<{ record: PoolRecord; created: boolean }>;

  /** The pool, or null when it was never applied. */
  getPool(name: string): Promise<PoolRecord | null>;
  /**
   * Every pool, by name. Read from the index, which real DynamoDB updates eventually: a pool applied a moment ago can
   * be missing for a moment (getPool reads consistently).
   */
  listPools(): Promise<PoolRecord[]>;

  /**
   * Sets the given fields of the pool if its version is still `expectedVersion`; returns the new record (version + 1,
   * updatedAt = now; an empty change still bumps both), or null when the version moved (re-read) or the pool is gone.
   * The change is not validated before it is written (the record is parsed on the way back).
   */
  updatePool(name: string, expectedVersion: number, set: PoolChange): Promise<PoolRecord | null>;

  /**
   * Starts a whole-pool rotation: generation + 1, version + 1, rotateRequestedAt = updatedAt = now, with no version
   * check (an operator command wins over the reconcilers, whose next versioned update returns null). Throws, unlike
   * updatePool, when the pool does not exist.
   */
  bumpGeneration(name: string): Promise<PoolRecord>;

  /**
   * Adds to the pool's running counters atomically, with no version check and without touching version or updatedAt
   * (counters commute, so they never make a versioned update fail). Zero or absent counters are skipped; throws when
   * the pool does not exist, except when every counter is zero: then nothing is sent and nothing is checked.
   */
  addPoolCounters(name: string, add: PoolCounters): Promise<void>;

  /**
   * Records a node (parsed against the record schema first: defaults such as version 0 filled in, an invalid record
   * throws before anything is written, synchronously rather than as a rejection since the method is not async);
   * false, and the existing record untouched, when a record for this pool and instance already exists, whatever its
   * fields. The pool itself need not exist.
   */
  putNode(node: NodeRecord): Promise<boolean>;

  /** The node, or null when none was recorded under this pool and instance id. */
  getNode(pool: string, instanceId: string): Promise<NodeRecord | null>;

  /**
   * Every node record of a pool (TERMINATED ones too, for cost accounting), in instance-id order, read consistently;
   * empty for a pool with no nodes or no such pool.
   */
  listNodes(pool: string): Promise<NodeRecord[]>;

  /**
   * Sets fields of a node if its version is still `expectedVersion`; returns the new record (version + 1; nodes have
   * no updatedAt, their lifecycle timestamps say what happened when), or null when the condition failed (re-read:
   * someone changed the node in between) or the node is gone.
   */
  updateNode(pool: string, instanceId: string, expectedVersion: number, set: NodeChange): Promise<NodeRecord | null>;

  /**
   * Takes or renews the controller leader lease for `owner` until now + leaseMs (a renewal may shorten it): succeeds
   * when there is no lease, it was released, it expired (expiresAt < now: at exactly expiresAt it is still held), or
   * `owner` holds it already. Returns the lease, or null when another owner holds an unexpired lease. The term is the
   * previous term + 1 when the owner changes, and unchanged when `owner` held it last, even after its expiry or
   * release: it counts hand-overs, not acquisitions. The write is conditional on the term read just before it, so of
   * callers racing for the same lease exactly one wins; the others get null (no retry: they try on their next tick).
   */
  acquireLeadership(owner: string, leaseMs: number): Promise<LeaderLease | null>;

  /**
   * Gives the lease up at once if `owner` still holds it (expiresAt = 0, owner and term kept), so a successor need not
   * wait for expiry. A no-op, not an error, when another owner holds it or there is no lease.
   */
  releaseLeadership(owner: string): Promise<void>;

  /** Who holds the lease now or held it last (expired or released: expiresAt 0); null when nobody ever did. */
  getLeader(): Promise<LeaderLease | null>;

  /**
   * Records the pool's launch number `intent.seq`, open, before its CreateFleet is sent (item POOL#<name>/LAUNCH):
   * only when the last launch recorded is `seq - 1` and closed, or none is and `seq` is 1; false otherwise (someone
   * else launched, or a launch is still open and must be repeated first). The pool itself need not exist.
   */
  openLaunch(intent: Omit<LaunchIntent, "open">): Promise<boolean>;

  /** The pool's last recorded launch (open or closed), or null when it never launched. */
  getLaunch(pool: string): Promise<LaunchIntent | null>;

  /** Closes launch `seq` once its nodes are recorded; a no-op when the pool's last launch is another one. */
  closeLaunch(pool: string, seq: number): Promise<void>;
}

/**
 * One CreateFleet as recorded before it was sent, so that a controller that died before recording its nodes is
 * followed by one that repeats the very same call (same ClientToken, same request) and adopts what it launched.
 */
export interface LaunchIntent {
  pool: string;
  /** The pool's launches so far, this one included: 1, 2, ... */
  seq: number;
  clientToken: string;
  /** The CloudProvider LaunchRequest as JSON, repeated verbatim. */
  request: string;
  startedAt: string;
  /** True until the launch's nodes are recorded. */
  open: boolean;
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
