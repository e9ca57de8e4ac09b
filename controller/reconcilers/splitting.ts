import type { ExportRecord, PartitionRecord, SourceKey } from "../../config/records.ts";
import { describeError } from "../../lib/errors.ts";
import { LeaseLostError, RangeChangedError, type SplitResult } from "../../lib/jobs/job-store.ts";
import { forEachPool, isServing, poolNodes, poolWork, type ReconcileContext, type ReconcileResult } from "./context.ts";

/**
 * Splitting: when a pool has idle capacity (READY nodes with free slots) and nothing PENDING to give it, the largest
 * remainders of LEASED partitions are split so the idle nodes get work instead of waiting for the tail.
 *
 * - Remainder = the partition's estimated rows (the plan's estimate or exact count, halved by earlier splits) minus the rows it has
 *   committed: no COUNT(*) against the source to decide.
 * - Only remainders of at least max(splitMinRows, 4 chunks) are split: the owner redoes at most the chunk it was
 *   writing (its next checkpoint fails with RangeChangedError because hi moved, and it re-reads up to the new hi),
 *   so a split must save much more than one chunk.
 * - The key comes from the source's index (ctx.splitter, split-points.ts): the median key of the remainder. The
 *   owner keeps [cursor, at), the new PENDING partition gets [at, hi), in one transaction fenced on the owner's
 *   (owner, epoch) and on the cursor and hi read here; if the owner checkpointed or lost its lease in between, the
 *   split is skipped and decided again on the next run.
 * - At most one split per free slot per run: each split makes one PENDING partition, which one idle node claims;
 *   provisioning and scale-down then count it as work, so they neither drain the idle node nor launch more for it.
 */
export async function splitting(ctx: ReconcileContext): Promise<ReconcileResult> {
  const splitter = ctx.splitter;
  if (!splitter) return { nextRunInMs: 60_000 };
  let split = 0;
  await forEachPool(ctx, "splitting", async (pool) => {
    const work = await poolWork(ctx, pool.pool);
    if (work.pending.length > 0 || work.leased.length === 0) return;
    const perNode = pool.spec.capacity.partitionsPerNode;
    const nodes = await poolNodes(ctx, pool.pool);
    let slots = 0;
    for (const n of nodes) {
      if (n.lifecycle === "READY" && isServing(n)) slots += Math.max(0, perNode - (work.byOwner.get(n.instanceId)?.length ?? 0));
    }
    if (slots === 0) return;

    const exports = new Map<string, ExportRecord | null>();
    const exportOf = async (id: string) => {
      if (!exports.has(id)) exports.set(id, await ctx.jobs.getExport(id));
      return exports.get(id) ?? null;
    };
    const candidates: { p: PartitionRecord; remaining: number; exp: ExportRecord }[] = [];
    for (const p of work.leased) {
      const exp = await exportOf(p.exportId);
      if (!exp || !p.owner) continue;
      const remaining = p.estimatedRows - p.rows;
      const minRows = Math.max(ctx.settings.splitMinRows, 4 * exp.spec.destination.chunk.maxRows);
      if (remaining >= minRows) candidates.push({ p, remaining, exp });
    }
    candidates.sort((a, b) => b.remaining - a.remaining);

    for (const { p, remaining, exp } of candidates) {
      if (slots === 0) break;
      const what = `splitting partition ${p.partition} of ${p.exportId} (about ${remaining} rows left, held by ${p.owner})`;
      try {
        const choice = await splitter.findSplit(exp, p, remaining);
        if (!choice) continue;
        const result = await splitFenced(ctx, p, choice.at, choice.ahead, choice.newRows);
        if (!result) continue;
        slots--;
        split++;
        ctx.log(
          `split partition ${p.partition} of ${p.exportId} at ${JSON.stringify(choice.at)} for idle nodes: ` +
            `about ${choice.newRows} rows moved to new partition ${result.created.partition}`,
        );
      } catch (err) {
        // The owner checkpointed, finished or lost its lease since poolWork read it: the next run decides again.
        if (err instanceof RangeChangedError || err instanceof LeaseLostError) continue;
        ctx.log(`${what} failed: ${describeError(err)}`);
      }
    }
  });
  return { nextRunInMs: split > 0 ? 5_000 : 10_000 };
}

/**
 * Splits at `at`, fenced on the partition as read. The owner checkpoints every chunk, so by the time the dive has
 * answered its cursor has often moved on: the store then answers RangeChangedError with the current record. If only
 * the cursor moved (same owner, epoch and hi) and by fewer rows than half the distance to `at` (`ahead` rows in key
 * order past the cursor read), `at` is still well after the new cursor and the split is retried on the fresh fence.
 * Row counts, not key comparisons: keys may be strings under a collation JS cannot reproduce. Null: skipped.
 */
async function splitFenced(
  ctx: ReconcileContext,
  read: PartitionRecord,
  at: SourceKey,
  ahead: number,
  newRows: number,
): Promise<SplitResult | null> {
  let p = read;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fence = { exportId: p.exportId, partition: p.partition, owner: p.owner ?? "", epoch: p.epoch, cursor: p.cursor, hi: p.hi };
      return await ctx.jobs.split(fence, at, { estimatedRows: newRows });
    } catch (err) {
      if (!(err instanceof RangeChangedError)) throw err;
      const c = err.current;
      const same =
        c.state === "LEASED" && c.owner === read.owner && c.epoch === read.epoch && JSON.stringify(c.hi) === JSON.stringify(read.hi);
      if (!same || c.rows - read.rows >= ahead / 2) return null;
      p = c;
    }
  }
  return null;
}
