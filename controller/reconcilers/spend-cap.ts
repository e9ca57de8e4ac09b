import type { ExportRecord } from "../../config/records.ts";
import { isoAt } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import { type ExportCostEstimate, exportCost, formatUsd } from "../oncall/cost.ts";
import type { ReconcileContext, ReconcileResult } from "./context.ts";

/**
 * Spend cap (`maxCost` in the export spec, USD): for each RUNNING export with a cap and no hold yet, the projection
 * (controller/oncall/cost.ts: spent so far + the burn of its running nodes x rows remaining / average rate) is
 * compared with the cap; once it passes, the export is held (JobStore.setCostHold, with spent, projected and cap).
 *
 * A held export asks for no capacity (context.ts readPoolWork leaves its PENDING partitions out), so provisioning
 * launches nothing for it and replaces no lost node; its LEASED partitions still count, so busy nodes are not drained
 * and their chunks commit. `status` lists the hold as needing a human, `export show` prints the figures.
 *
 * The hold is sticky (a human decides: raise the cap in a new spec, or `spotferry cancel`): lifting it when the
 * projection dips (nodes drained, so less burn) would only launch again and trip again.
 *
 * The projection is trusted once PROJECTION_MIN_DONE of the rows are exported: before that, the average rate still
 * carries the boot time and would overstate the remaining cost; until then only what was spent counts.
 */
export const PROJECTION_MIN_DONE = 0.05;

export async function spendCap(ctx: ReconcileContext): Promise<ReconcileResult> {
  for (const record of await ctx.jobs.listExports({ state: "RUNNING" })) {
    if (record.spec.maxCost === undefined || record.costHold) continue;
    try {
      await checkCap(ctx, record, record.spec.maxCost);
    } catch (err) {
      ctx.log(`spend cap of export ${record.exportId} not checked: ${describeError(err)}`);
    }
  }
  return { nextRunInMs: 10_000 };
}

/** What the cap is compared with: the projection once trusted, else what was spent. */
export function projectedSpend(cost: ExportCostEstimate): number {
  const done = cost.rowsTotal > 0 ? cost.rowsDone / cost.rowsTotal : 1;
  if (done < PROJECTION_MIN_DONE || cost.projectedTotal === null) return cost.costSoFar;
  return Math.max(cost.costSoFar, cost.projectedTotal);
}

async function checkCap(ctx: ReconcileContext, record: ExportRecord, cap: number): Promise<void> {
  const cost = await exportCost({ jobs: ctx.jobs, fleet: ctx.fleet, clock: ctx.clock }, record.exportId);
  const projected = projectedSpend(cost);
  if (projected <= cap) return;
  const hold = { spentUsd: cost.costSoFar, projectedUsd: projected, capUsd: cap, at: isoAt(ctx.clock) };
  await ctx.jobs.setCostHold(record.exportId, hold);
  ctx.log(
    `export ${record.exportId}: projected ${formatUsd(projected)} passes maxCost ${formatUsd(cap)} (spent ${formatUsd(cost.costSoFar)}); no more launches for it, held for a human`,
  );
}
