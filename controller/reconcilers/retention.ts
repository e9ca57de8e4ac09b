import { describeError } from "../../lib/errors.ts";
import type { ReconcileContext, ReconcileResult } from "./context.ts";

const DAY_S = 86_400;

/**
 * Retention (ControllerSettings.stateRetentionDays): a finished export (SUCCEEDED, FAILED, CANCELLED) without
 * `expiresAt` gets the table's TTL attribute on all its items (JobStore.expireExport), `stateRetentionDays` after now,
 * and DynamoDB deletes them once that passes (within a few days of it, as TTL does). Off when the setting is absent.
 * The output in S3 is not touched: its lifecycle is the bucket's.
 */
export async function retention(ctx: ReconcileContext): Promise<ReconcileResult> {
  const days = ctx.settings.stateRetentionDays;
  if (days === undefined) return { nextRunInMs: 3_600_000 };
  const expiresAt = Math.floor(ctx.clock.now() / 1000) + days * DAY_S;
  let wrote = false;
  for (const state of ["SUCCEEDED", "FAILED", "CANCELLED"] as const) {
    // Every finished export is listed (not only the newest), so those finished before a retention was set get one too.
    const finished = await ctx.jobs.listExports({ state });
    for (const e of finished.filter((x) => x.expiresAt === undefined)) {
      wrote = true;
      try {
        const { items } = await ctx.jobs.expireExport(e.exportId, expiresAt);
        ctx.log(`export ${e.exportId} (${state}): ${items} state items expire at ${new Date(expiresAt * 1000).toISOString()}`);
      } catch (err) {
        ctx.log(`retention of export ${e.exportId} failed: ${describeError(err)}`);
      }
    }
  }
  return { nextRunInMs: wrote ? 60_000 : 600_000 };
}
