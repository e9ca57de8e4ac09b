import { describeError } from "../../lib/errors.ts";
import type { ReconcileContext, ReconcileResult } from "./context.ts";

/**
 * Finalizing: a RUNNING export whose partitions are all DONE (or one left FINALIZING by a controller that died
 * mid-way) is finalized: manifest, success marker, orphan cleanup, SUCCEEDED. Finalizing is idempotent, so a
 * repeat after a crash is harmless. An export with QUARANTINED partitions is never finalized: it waits for an operator.
 * A schedule's run (an export with an incremental block) is left to its schedule, which finalizes it behind its
 * quality gate (controller/schedule/run-attempt.ts): a success marker is never written and then taken back.
 */
export async function finalizing(ctx: ReconcileContext): Promise<ReconcileResult> {
  const candidates = [...(await ctx.jobs.listExports({ state: "RUNNING" })), ...(await ctx.jobs.listExports({ state: "FINALIZING" }))];
  for (const e of candidates) {
    if (e.spec.incremental) continue;
    try {
      if (e.state === "RUNNING") {
        const p = await ctx.jobs.progress(e.exportId);
        if (p.total.partitions === 0 || p.byState.DONE.partitions !== p.total.partitions) continue;
      }
      ctx.log(`finalizing export ${e.exportId}`);
      await ctx.finalize(e.exportId);
    } catch (err) {
      ctx.log(`finalizing export ${e.exportId} failed: ${describeError(err)}`);
    }
  }
  return { nextRunInMs: 15_000 };
}
