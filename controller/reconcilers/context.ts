import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { ExportRecord, NodeRecord, PartitionRecord, PoolRecord } from "../../config/records.ts";
import type { ControllerSettings } from "../../config/settings.ts";
import type { Clock } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import type { CloudInstance, CloudProvider, LaunchTemplateInput } from "../cloud/cloud-provider.ts";
import type { SplitFinder } from "../planner/split-points.ts";
import type { FleetStore } from "../store/fleet-store.ts";
import type { ClusterSnapshot } from "./snapshot.ts";

/**
 * What every reconciler gets. Reconcilers are stateless between runs (all state is in the table or the cloud), so a
 * restarted or newly elected controller carries on where the last one stopped; the only in-memory state is a
 * best-effort rate sample in the metrics reconciler.
 */
export interface ReconcileContext {
  /** This controller replica's identity (its leader-lease owner): the actor the ledger names for what it does to jobs. */
  owner: string;
  clock: Clock;
  cloud: CloudProvider;
  fleet: FleetStore;
  jobs: JobStore;
  settings: ControllerSettings;
  /** Renders the launch template of a pool generation (bootstrap/ in production, a fixed script in tests). */
  templates: TemplateSource;
  /** Finalizes an export whose partitions are all DONE (controller/finalize in production). */
  finalize: (exportId: string) => Promise<void>;
  cloudwatch?: CloudWatchClient;
  /** Finds split keys in the source's index (controller/planner/split-points.ts); without it, splitting is off. */
  splitter?: SplitFinder;
  /** Asks the controller to run another reconciler as soon as this one returns (e.g. replace a node at once). */
  wake: (reconciler: string) => void;
  log: (line: string) => void;
  /**
   * Whether capacity may be launched for an export (controller/planner/source-admission.ts: its source password
   * resolves); a refused export's partitions are not counted as work. Without it every RUNNING export is admitted.
   */
  admitExport?: (record: ExportRecord) => Promise<boolean>;
  /** The pass's shared view of the cluster (snapshot.ts); without it every reconciler reads for itself. */
  snapshot?: ClusterSnapshot;
}

export interface ReconcileResult {
  nextRunInMs: number;
}

export type Reconciler = (ctx: ReconcileContext) => Promise<ReconcileResult>;

/** Renders a pool's launch template data; `refreshAt` is when it must be rendered again (presigned URL half-life). */
export interface TemplateSource {
  render(pool: PoolRecord): Promise<{ data: LaunchTemplateInput; refreshAt: number }>;
}

/** A template source for tests and plain hosts: fixed user-data, never refreshed. */
export function staticTemplateSource(userData: string): TemplateSource {
  return {
    render: async (pool) => ({
      data: {
        imageId: pool.spec.imageId,
        userData,
        securityGroupIds: pool.spec.securityGroupIds,
        instanceProfileArn: pool.spec.instanceProfileArn,
        keyName: pool.spec.keyName,
      },
      refreshAt: Number.MAX_SAFE_INTEGER,
    }),
  };
}

/** Lifecycles in which a node counts as capacity of its pool. */
export const isLive = (n: NodeRecord) => n.lifecycle === "LAUNCHING" || n.lifecycle === "READY";
/** Live and not on its way out: what provisioning counts against the desired size. */
export const isServing = (n: NodeRecord) => isLive(n) && n.retiringAt === null;

/** The work of one pool: partitions of its RUNNING exports, by state, and who holds which lease. */
export interface PoolWork {
  pending: PartitionRecord[];
  leased: PartitionRecord[];
  /** LEASED partitions by owner (node id). */
  byOwner: Map<string, PartitionRecord[]>;
  /** RUNNING exports of the pool with partitions not yet DONE, oldest first. */
  activeExports: string[];
}

/** Reads every RUNNING export of `pool` and its PENDING and LEASED partitions (strongly consistent reads). */
export function poolWork(ctx: ReconcileContext, pool: string): Promise<PoolWork> {
  return ctx.snapshot ? ctx.snapshot.work(pool, () => readPoolWork(ctx, pool)) : readPoolWork(ctx, pool);
}

async function readPoolWork(ctx: ReconcileContext, pool: string): Promise<PoolWork> {
  const work: PoolWork = { pending: [], leased: [], byOwner: new Map(), activeExports: [] };
  const exports = await ctx.jobs.listExports({ state: "RUNNING" });
  for (const e of [...exports].reverse()) {
    if (e.spec.pool !== pool) continue;
    if (ctx.admitExport && !(await ctx.admitExport(e))) continue;
    let active = false;
    for (const state of ["PENDING", "LEASED"] as const) {
      // A held export (spend-cap.ts) asks for no capacity; its LEASED partitions still count, so busy nodes finish.
      if (state === "PENDING" && e.costHold) continue;
      let after: number | undefined;
      for (;;) {
        const page = await ctx.jobs.listPartitions(e.exportId, { state, limit: 500, after });
        for (const p of page.items) {
          active = true;
          if (state === "PENDING") work.pending.push(p);
          else {
            work.leased.push(p);
            if (p.owner) work.byOwner.set(p.owner, [...(work.byOwner.get(p.owner) ?? []), p]);
          }
        }
        if (page.next === null) break;
        after = page.next;
      }
    }
    if (active) work.activeExports.push(e.exportId);
  }
  return work;
}

/** Pool record, node records and the cloud's view of the pool's instances, read together. */
export interface PoolView {
  pool: PoolRecord;
  nodes: NodeRecord[];
  instances: Map<string, CloudInstance>;
}

export async function poolView(ctx: ReconcileContext, pool: PoolRecord): Promise<PoolView> {
  const describe = () => ctx.cloud.describePoolInstances(pool.pool);
  const [nodes, instances] = await Promise.all([
    poolNodes(ctx, pool.pool),
    ctx.snapshot ? ctx.snapshot.instances(pool.pool, describe) : describe(),
  ]);
  // The pool record is the caller's own fresh read; nodes and instances are the pass's.
  return { pool, nodes, instances: new Map(instances.map((i) => [i.instanceId, i])) };
}

/** The pool's node records, as the pass read them (copied: callers filter and sort them). */
export async function poolNodes(ctx: ReconcileContext, pool: string): Promise<NodeRecord[]> {
  const list = () => ctx.fleet.listNodes(pool);
  return [...(await (ctx.snapshot ? ctx.snapshot.nodes(pool, list) : list()))];
}

/** Runs `fn` for every pool; one pool's failure is logged and does not stop the others. */
export async function forEachPool(ctx: ReconcileContext, what: string, fn: (pool: PoolRecord) => Promise<void>): Promise<void> {
  for (const listed of await ctx.fleet.listPools()) {
    try {
      // The listing comes from an index (eventually consistent); the record itself is read strongly.
      const pool = await ctx.fleet.getPool(listed.pool);
      if (pool) await fn(pool);
    } catch (err) {
      ctx.log(`${what} of pool ${listed.pool} failed: ${describeError(err)}`);
    }
  }
}

/** Disruption budget of a pool as a node count: a number, or a percentage of the desired size (at least 1). */
export function budgetOf(pool: PoolRecord): number {
  const max = pool.spec.disruptionBudget.maxUnavailable;
  if (typeof max === "number") return max;
  const pct = Number(max.slice(0, -1));
  return Math.max(1, Math.floor((Math.max(pool.desiredSize, 1) * pct) / 100));
}

export const isoMs = (s: string | null) => (s ? Date.parse(s) : Number.NaN);
