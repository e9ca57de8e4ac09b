import { isGone } from "../cloud/cloud-provider.ts";
import { forEachPool, poolView, type ReconcileContext, type ReconcileResult } from "./context.ts";

/**
 * Garbage collection: instances tagged with a pool that the controller does not account for are terminated:
 * - no node record and older than orphanGrace (a launch whose records were never written: the controller died
 *   between CreateFleet and the write, or a CreateFleet retry launched twice);
 * - a node record that says TERMINATED while the instance still runs (a terminate call that was lost).
 * The grace keeps a launch that is being recorded right now from being collected.
 */
export async function garbageCollection(ctx: ReconcileContext): Promise<ReconcileResult> {
  await forEachPool(ctx, "garbage collection", async (pool) => {
    const view = await poolView(ctx, pool);
    const records = new Map(view.nodes.map((n) => [n.instanceId, n]));
    const now = ctx.clock.now();
    const doomed: string[] = [];
    for (const inst of view.instances.values()) {
      if (isGone(inst.state)) continue;
      const rec = records.get(inst.instanceId);
      if (!rec && now - inst.launchedAt > ctx.settings.orphanGrace * 1000) doomed.push(inst.instanceId);
      else if (rec?.lifecycle === "TERMINATED") doomed.push(inst.instanceId);
    }
    if (!doomed.length) return;
    ctx.log(`pool ${pool.pool}: terminating ${doomed.length} unaccounted instances: ${doomed.join(", ")}`);
    await ctx.cloud.terminate(doomed);
  });
  return { nextRunInMs: 60_000 };
}
