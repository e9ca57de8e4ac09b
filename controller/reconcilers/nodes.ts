import type { NodeRecord, PartitionRecord, PoolRecord } from "../../config/records.ts";
import { isoAt } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import type { LaunchedInstance } from "../cloud/cloud-provider.ts";
import type { NodeChange } from "../store/fleet-store.ts";
import type { ReconcileContext } from "./context.ts";

/** Node-record helpers shared by the reconcilers that change node lifecycles. */

export function newNode(pool: PoolRecord, i: LaunchedInstance, price: number, at: string, exportId: string | null): NodeRecord {
  return {
    pool: pool.pool,
    instanceId: i.instanceId,
    generation: pool.generation,
    lifecycle: "LAUNCHING",
    instanceType: i.instanceType,
    zone: i.zone,
    market: i.market,
    price,
    launchedAt: at,
    heartbeatAt: null,
    currentPartition: null,
    hostKeyFingerprint: null,
    terminatedAt: null,
    reason: null,
    exportId,
    readyAt: null,
    retiringAt: null,
    drainingAt: null,
    version: 0,
  };
}

/**
 * Applies a change to a node as read; a version conflict is logged and skipped (the next run re-reads), because only
 * the leader writes nodes and a conflict therefore means the world moved under this pass.
 */
export async function changeNode(ctx: ReconcileContext, node: NodeRecord, change: NodeChange, why: string): Promise<NodeRecord | null> {
  const updated = await ctx.fleet.updateNode(node.pool, node.instanceId, node.version, change);
  if (!updated) ctx.log(`node ${node.instanceId} of pool ${node.pool} changed under the controller; skipped: ${why}`);
  else if (change.lifecycle && change.lifecycle !== node.lifecycle) {
    ctx.log(`node ${node.instanceId} (${node.pool}) ${node.lifecycle} -> ${change.lifecycle}: ${why}`);
  }
  return updated;
}

/** Marks a node TERMINATED now with a reason (the caller has asked the cloud to terminate it, or it is gone). */
export function terminatedChange(ctx: ReconcileContext, reason: string): NodeChange {
  return { lifecycle: "TERMINATED", terminatedAt: isoAt(ctx.clock), reason, currentPartition: null };
}

/**
 * Takes back the partitions a node still holds, fenced on the (owner, epoch) the controller read: PENDING at once with
 * their cursors, so another node resumes them without waiting for lease expiry, and recorded in the ledger as this
 * controller's act ("revoked"), not as a release by the node. If the node's agent is in fact alive, its next write
 * fails with LeaseLostError and it stops: it can never commit into a partition it lost. A lease that moved meanwhile
 * (the agent released it, or the reaper did) is already fine and is skipped. Returns how many were taken back.
 * `blameless`: the node was taken away (spot reclaim, drain), so the leases do not count as failed attempts; a node
 * that died or hung may have been killed by its partition, and a lease of it with no progress counts (JobStore.claim).
 */
export async function releaseLeasesOf(
  ctx: ReconcileContext,
  nodeId: string,
  partitions: readonly PartitionRecord[],
  detail: string,
  how: { interrupted: boolean; blameless: boolean },
): Promise<number> {
  let released = 0;
  for (const p of partitions) {
    if (p.state !== "LEASED" || p.owner !== nodeId) continue;
    try {
      const fence = { exportId: p.exportId, partition: p.partition, owner: nodeId, epoch: p.epoch };
      if (await ctx.jobs.revoke(fence, { detail, by: ctx.owner, ...how })) released++;
    } catch (err) {
      ctx.log(`taking back partition ${p.partition} of ${p.exportId} from ${nodeId}: ${describeError(err)}`);
    }
  }
  return released;
}
