import { forEachPool, isoMs, poolView, poolWork, type ReconcileContext, type ReconcileResult } from "./context.ts";
import { changeNode, releaseLeasesOf, terminatedChange } from "./nodes.ts";

/**
 * Draining: ends the drains that rotation and scale-down started (node DRAINING, instance asked to terminate, which
 * SIGTERMs the agent so it commits its chunk and releases).
 * - Done: the node holds no lease and its instance is no longer running -> TERMINATED.
 * - Instance down but leases still held (the agent died before releasing): released now, with their cursors.
 * - Past drainTimeout and still holding leases: released (fenced, so the agent cannot commit afterwards) and the
 *   instance is terminated again.
 */
export async function draining(ctx: ReconcileContext): Promise<ReconcileResult> {
  let busy = false;
  await forEachPool(ctx, "draining", async (pool) => {
    const view = await poolView(ctx, pool);
    const drainingNodes = view.nodes.filter((n) => n.lifecycle === "DRAINING");
    if (!drainingNodes.length) return;
    busy = true;
    const work = await poolWork(ctx, pool.pool);
    const now = ctx.clock.now();
    for (const n of drainingNodes) {
      const inst = view.instances.get(n.instanceId);
      const held = work.byOwner.get(n.instanceId) ?? [];
      const down = !inst || inst.state === "terminated";
      const timedOut = now - isoMs(n.drainingAt) > pool.spec.drainTimeout * 1000;
      if (held.length && (down || timedOut)) {
        const why = down ? "instance stopped before releasing" : `drain timeout ${pool.spec.drainTimeout} s`;
        await releaseLeasesOf(ctx, n.instanceId, held, `node ${n.instanceId} drained: ${why}`, { interrupted: false, blameless: true });
        if (!down) await ctx.cloud.terminate([n.instanceId]);
        ctx.log(`node ${n.instanceId}: released ${held.length} partitions (${why})`);
        continue;
      }
      if (held.length) continue;
      if (inst && inst.state === "running") {
        // The terminate request was lost (or the controller died between marking and terminating): ask again.
        await ctx.cloud.terminate([n.instanceId]);
        continue;
      }
      await changeNode(ctx, n, terminatedChange(ctx, n.reason ?? "drained"), "drained");
    }
  });
  return { nextRunInMs: busy ? 2_000 : 10_000 };
}
