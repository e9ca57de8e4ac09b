import { isoAt } from "../../lib/clock.ts";
import { forEachPool, isoMs, isServing, poolNodes, poolWork, type ReconcileContext, type ReconcileResult } from "./context.ts";
import { changeNode } from "./nodes.ts";

/**
 * Scale-down: when a pool has more serving nodes than its desired size (work ran out), idle READY nodes (holding no
 * lease) are drained, the most expensive first. Busy nodes are never picked: they finish their partitions and go
 * idle, and a later run picks them. Drains end in draining.ts, like rotation's.
 */
export async function scaleDown(ctx: ReconcileContext): Promise<ReconcileResult> {
  await forEachPool(ctx, "scale-down", async (pool) => {
    const nodes = await poolNodes(ctx, pool.pool);
    const serving = nodes.filter(isServing);
    let excess = serving.length - pool.desiredSize;
    if (excess <= 0) return;
    const work = await poolWork(ctx, pool.pool);
    // Re-check against the work itself: desiredSize was written by provisioning and may be a run behind.
    const units = work.pending.length + work.leased.length;
    const needed = Math.max(pool.spec.capacity.min, Math.ceil(units / pool.spec.capacity.partitionsPerNode));
    excess = Math.min(excess, serving.length - needed);
    const idle = serving
      .filter((n) => n.lifecycle === "READY" && !work.byOwner.has(n.instanceId))
      .sort((a, b) => b.price - a.price || isoMs(b.launchedAt) - isoMs(a.launchedAt));
    for (const n of idle.slice(0, Math.max(0, excess))) {
      await ctx.cloud.terminate([n.instanceId]);
      await changeNode(
        ctx,
        n,
        { lifecycle: "DRAINING", drainingAt: isoAt(ctx.clock), reason: "scale-down: idle, work ran out" },
        "scale-down",
      );
    }
  });
  return { nextRunInMs: 15_000 };
}
