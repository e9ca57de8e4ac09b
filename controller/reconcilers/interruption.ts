import type { NodeRecord, PartitionRecord } from "../../config/records.ts";
import { isoAt } from "../../lib/clock.ts";
import { capacityKey, isGone, SPOT_TERMINATION_REASON } from "../cloud/cloud-provider.ts";
import { forEachPool, isoMs, poolView, poolWork, type ReconcileContext, type ReconcileResult } from "./context.ts";
import { changeNode, releaseLeasesOf, terminatedChange } from "./nodes.ts";

/** A just-launched instance may be missing from DescribeInstances for a while (eventual consistency). */
const MISSING_GRACE_MS = 60_000;

/**
 * Interruption: finds nodes that are gone or dead and moves their work on at once.
 * - Gone: the cloud reports the instance shutting-down/terminated (Server.SpotInstanceTermination for a spot
 *   interruption), or no longer knows it, while the node record still says LAUNCHING/READY.
 * - Dead: liveness is derived, not reported: a node is alive while it holds an unexpired partition lease (the agent
 *   heartbeats its leases), and heartbeatAt records the last time the controller saw that. A READY node that has held
 *   no live lease for heartbeatTimeout while claimable work waits has a dead or exited agent: it is terminated.
 * - Noticed: its agent released its partitions with an "interrupted" ledger event (a spot notice or a rebalance
 *   recommendation it drains on) and holds nothing now: it will not claim again, so it is replaced at once, not
 *   when EC2 reclaims it a notice period later.
 * Either way the node is marked INTERRUPTED, its partitions are released with their cursors (fenced on the owner's
 * epoch, so a half-alive agent cannot commit afterwards) and provisioning is woken to launch the replacement now.
 * INTERRUPTED nodes become TERMINATED once the instance is gone and they hold nothing.
 * A spot interruption (reclaimed by EC2, or a notice the agent acted on) also marks its (type, zone) in the pool's
 * capacity memory for capacityErrorMemory, as a launch shortage does: EC2 just told us that spot pool is short, so
 * the replacement goes elsewhere instead of into the next interruption.
 */
export async function interruption(ctx: ReconcileContext): Promise<ReconcileResult> {
  let interrupted = 0;
  await forEachPool(ctx, "interruption", async (pool) => {
    const now = ctx.clock.now();
    const view = await poolView(ctx, pool);
    const work = await poolWork(ctx, pool.pool);
    const heartbeatMs = ctx.settings.heartbeatTimeout * 1000;
    const noticed = await nodesThatReportedNotices(ctx, work.pending);
    const reclaimed: NodeRecord[] = [];
    let newly = 0;

    for (const node of view.nodes) {
      let n: NodeRecord | null = node;
      if (node.lifecycle === "LAUNCHING" || node.lifecycle === "READY") {
        const inst = view.instances.get(node.instanceId);
        const missing = !inst && (node.lifecycle === "READY" || now - isoMs(node.launchedAt) > MISSING_GRACE_MS);
        if (missing || (inst && isGone(inst.state))) {
          const reason =
            inst?.stateReason === SPOT_TERMINATION_REASON
              ? "spot interruption"
              : `instance ${inst?.state ?? "vanished"}${inst?.stateReason ? ` (${inst.stateReason})` : ""}`;
          n = await changeNode(ctx, node, { lifecycle: "INTERRUPTED", reason, currentPartition: null }, reason);
          if (n) newly++;
          if (n && inst?.stateReason === SPOT_TERMINATION_REASON) reclaimed.push(n);
        } else if (node.lifecycle === "READY") {
          const live = (work.byOwner.get(node.instanceId) ?? []).filter((p) => isoMs(p.leaseExpiresAt) > now);
          const seen = isoMs(node.heartbeatAt ?? node.readyAt);
          if (!live.length && noticed.has(node.instanceId)) {
            // The agent gave its work back after a spot notice (or rebalance recommendation) and stopped claiming:
            // replace it now instead of when the cloud reclaims it (EC2 reports a notice only through EventBridge).
            const reason = "agent released its work after a spot interruption notice";
            await ctx.cloud.terminate([node.instanceId]);
            n = await changeNode(ctx, node, { lifecycle: "INTERRUPTED", reason, currentPartition: null }, reason);
            if (n) newly++;
            if (n) reclaimed.push(n);
          } else if (live.length) {
            // Refresh heartbeatAt only now and then: one write per node per third of the timeout is plenty.
            if (Number.isNaN(seen) || now - seen > heartbeatMs / 3) {
              n = await changeNode(ctx, node, { heartbeatAt: isoAt(ctx.clock), currentPartition: partitionName(live) }, "alive");
            }
          } else if (work.pending.length > 0 && now - seen > heartbeatMs) {
            const reason = `no heartbeat for ${Math.round((now - seen) / 1000)} s while work was pending`;
            await ctx.cloud.terminate([node.instanceId]);
            n = await changeNode(ctx, node, { lifecycle: "INTERRUPTED", reason, currentPartition: null }, reason);
            if (n) newly++;
          }
        }
      }
      if (n?.lifecycle !== "INTERRUPTED") continue;

      const held = work.byOwner.get(n.instanceId) ?? [];
      // Reclaimed spot capacity is no fault of the partition; a dead or hung agent may be (a poisoned partition).
      const blameless = reclaimed.includes(n);
      const released = await releaseLeasesOf(ctx, n.instanceId, held, `node ${n.instanceId}: ${n.reason ?? "interrupted"}`, {
        interrupted: true,
        blameless,
      });
      if (released) ctx.log(`released ${released} partitions of interrupted node ${n.instanceId} with their cursors`);
      const inst = view.instances.get(n.instanceId);
      if (!inst || inst.state === "terminated") {
        await changeNode(ctx, n, { ...terminatedChange(ctx, n.reason ?? "interrupted") }, "instance is gone");
      } else if (!isGone(inst.state)) {
        await ctx.cloud.terminate([n.instanceId]);
      }
    }
    if (newly) {
      interrupted += newly;
      await ctx.fleet.addPoolCounters(pool.pool, { interruptions: newly, owedReplacements: newly });
    }
    await rememberShortSpotPools(ctx, pool.pool, reclaimed);
  });
  // Replacements are launched at once, not on provisioning's own schedule.
  if (interrupted) ctx.wake("provisioning");
  return { nextRunInMs: 5_000 };
}

/** Marks the (spot, type, zone) of interrupted spot nodes as short in the pool's capacity memory (version-checked). */
async function rememberShortSpotPools(ctx: ReconcileContext, poolName: string, nodes: readonly NodeRecord[]): Promise<void> {
  const until = new Date(ctx.clock.now() + ctx.settings.capacityErrorMemory * 1000).toISOString();
  const marks = Object.fromEntries(
    nodes.filter((n) => n.market === "spot").map((n) => [capacityKey("spot", n.instanceType, n.zone), until] as const),
  );
  if (!Object.keys(marks).length) return;
  // Another reconciler may save the pool meanwhile (provisioning prunes expired marks): re-read and retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    const pool = await ctx.fleet.getPool(poolName);
    if (!pool) return;
    if (await ctx.fleet.updatePool(poolName, pool.version, { capacityErrors: { ...pool.capacityErrors, ...marks } })) {
      ctx.log(`pool ${poolName}: spot capacity ${Object.keys(marks).join(", ")} marked short after an interruption`);
      return;
    }
  }
  ctx.log(`pool ${poolName}: could not record the interrupted spot capacity (the pool kept changing); provisioning may retry it`);
}

/**
 * Nodes whose agent reported a spot notice: the newest ledger event of a PENDING partition that was held before
 * (epoch > 0) is "interrupted" by that node. Only released-and-not-yet-reclaimed partitions are read, one event
 * each, so the cost follows the number of recent hand-overs, not the size of the export.
 */
async function nodesThatReportedNotices(ctx: ReconcileContext, pending: readonly PartitionRecord[]): Promise<Set<string>> {
  const nodes = new Set<string>();
  for (const p of pending) {
    if (p.epoch === 0) continue;
    const { items } = await ctx.jobs.listEvents(p.exportId, p.partition, { limit: 1, newestFirst: true });
    const last = items[0];
    if (last?.kind === "interrupted" && last.node) nodes.add(last.node);
  }
  return nodes;
}

const partitionName = (ps: { exportId: string; partition: number }[]) => ps.map((p) => `${p.exportId}#${p.partition}`).join(",");
