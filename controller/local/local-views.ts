import { createHash } from "node:crypto";
import { type PoolSpec, poolSpec } from "../../config/pool-spec.ts";
import type { ExportRecord } from "../../config/records.ts";
import type { Clock } from "../../lib/clock.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import type { FleetStore, LeaderLease } from "../store/fleet-store.ts";

/**
 * What the controller of one local run sees of the state table. The reconcilers act on every pool and every RUNNING
 * export they are shown, and a local run must touch only its own: other pools belong to a fleet controller (their
 * instances would look vanished to a local provider) and other exports to their own runs. So the run's controller
 * gets views of the real stores, scoped to one pool record and one export; everything it writes goes to DynamoDB
 * unchanged, so `spotferry nodes`, `status` and `why` show a local run like a fleet.
 */

/**
 * The local pool record's name for an export spec's pool: `local-<pool>`, so it never collides with the real pool of
 * that name (whose record a fleet controller owns). A pool name the Pool schema would refuse is slugged and given a
 * digest so two spec pools cannot map to one record.
 */
export function localPoolName(specPool: string): string {
  const plain = `local-${specPool}`;
  if (/^[a-z0-9][a-z0-9-]{0,62}$/.test(plain)) return plain;
  const slug = specPool
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .slice(0, 47);
  return `local-${slug}-${createHash("sha256").update(specPool).digest("hex").slice(0, 8)}`;
}

/**
 * The run's pool: at most `workers` agent processes, none kept when there is no work, on-demand because a machine has
 * no spot market (a spot node would be marked short by capacity memory after a hard kill and never replaced).
 * Boot and drain timeouts are a process's, not an instance's.
 */
export function localPoolSpec(name: string, o: { workers: number; partitionsPerNode: number }): PoolSpec {
  return poolSpec.parse({
    kind: "Pool",
    name,
    instanceTypes: ["local.process"],
    subnets: ["subnet-local"],
    imageId: "ami-local",
    capacity: { min: 0, max: o.workers, partitionsPerNode: o.partitionsPerNode },
    purchase: "on-demand",
    bootTimeout: "60s",
    drainTimeout: "60s",
    tags: { "spotferry:local": "true" },
  });
}

/** Leases the run's controller took back, counted for the run's summary. */
export interface TakenBack {
  reaped: number;
  revoked: number;
}

/**
 * The JobStore as the run's controller sees it: only `exportId` is listed, with its spec's pool replaced by the local
 * pool's name, because the reconcilers match an export to a pool by `spec.pool`. The claim queue stays keyed on the
 * real spec pool (the partitions carry it), which is the `--pool` the local agents claim from. Reaping stays
 * table-wide, as any controller's: an expired lease is safe to reap whoever holds it.
 */
export function scopedJobs(store: JobStore, o: { exportId: string; pool: string; counts: TakenBack }): JobStore {
  const local = (e: ExportRecord | null) => (e && e.exportId === o.exportId ? { ...e, spec: { ...e.spec, pool: o.pool } } : e);
  const overrides: Partial<JobStore> = {
    listExports: async (options) => {
      const e = local(await store.getExport(o.exportId));
      return e && (!options?.state || e.state === options.state) ? [e] : [];
    },
    getExport: async (id) => local(await store.getExport(id)),
    reapExpired: async (options) => {
      const reaped = await store.reapExpired(options);
      o.counts.reaped += reaped.filter((r) => r.exportId === o.exportId).length;
      return reaped;
    },
    revoke: async (fence, reason) => {
      const taken = await store.revoke(fence, reason);
      if (taken && fence.exportId === o.exportId) o.counts.revoked++;
      return taken;
    },
  };
  return overrideMethods(store, overrides);
}

/**
 * The FleetStore as the run's controller sees it: only its own pool is listed (read strongly, so a pool applied a
 * moment ago is never missed), and the leader lease is the run's own, in memory. The table's `CONTROLLER#leader` is
 * the fleet controller's: a local run taking it would stop the fleet, and waiting for it would stop the run.
 */
export function scopedFleet(fleet: FleetStore, o: { pool: string; clock: Clock }): FleetStore {
  let lease: LeaderLease | null = null;
  const overrides: Partial<FleetStore> = {
    listPools: async () => {
      const p = await fleet.getPool(o.pool);
      return p ? [p] : [];
    },
    acquireLeadership: async (owner, leaseMs) => {
      lease = { owner, expiresAt: o.clock.now() + leaseMs, term: 1 };
      return lease;
    },
    releaseLeadership: async () => {
      if (lease) lease = { ...lease, expiresAt: 0 };
    },
    getLeader: async () => lease,
  };
  return overrideMethods(fleet, overrides);
}

/** The port with some methods replaced; the rest are the target's, bound to it (class methods live on prototypes). */
function overrideMethods<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get: (t, prop, receiver) => {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof T];
      const value = Reflect.get(t, prop, receiver);
      return typeof value === "function" ? value.bind(t) : value;
    },
  });
}
