import type { ReconcileContext, ReconcileResult } from "./context.ts";

/**
 * Lease reaping: partitions whose lease expired (plus the clock-skew margin) go back to PENDING with their cursors,
 * so work held by a hard-killed agent resumes elsewhere. Runs at a third of the partition lease so a lost partition
 * waits at most about 1.3 leases. The store fences every step, so this is safe next to live agents.
 */
export async function leaseReaping(ctx: ReconcileContext): Promise<ReconcileResult> {
  const reaped = await ctx.jobs.reapExpired({ skewMarginMs: ctx.settings.clockSkewMargin * 1000, limit: 500 });
  for (const r of reaped) {
    ctx.log(`reaped partition ${r.partition} of ${r.exportId} from ${r.owner} (epoch ${r.epoch}, lease ended ${r.leaseExpiresAt})`);
  }
  // A full page means more may be waiting: come back at once.
  if (reaped.length) ctx.wake("provisioning");
  return { nextRunInMs: reaped.length >= 500 ? 0 : Math.max(1_000, (ctx.settings.partitionLease * 1000) / 3) };
}
