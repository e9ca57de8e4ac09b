import type { S3Client } from "@aws-sdk/client-s3";
import type { ExportRecord } from "../config/records.ts";
import type { Clock } from "../lib/clock.ts";
import { describeError } from "../lib/errors.ts";
import { type JobStore, type Lease, LeaseLostError, RangeChangedError } from "../lib/jobs/job-store.ts";
import { LeaseExpiredError, LeaseKeeper } from "../lib/leases/keeper.ts";
import type { MysqlSource, RangeReader } from "../lib/mysql/range-source.ts";
import { createEncoder, type Encoder, type Row } from "../lib/output/encode/index.ts";
import { chunkKey, exportPrefix, startChunkUpload } from "../lib/output/sink.ts";

/**
 * How the agent asks a running partition to stop. "now": cut the current chunk at the rows already read, commit it
 * and release (spot termination notice, SIGTERM). "chunk-end": finish the current chunk, commit, release (rebalance
 * recommendation, drain). `deadline`: past it, an uncommitted chunk is abandoned instead (the lease is released and
 * the next owner redoes at most that chunk).
 */
export interface StopRequest {
  mode: "now" | "chunk-end";
  interrupted: boolean;
  reason: string;
  deadline?: number;
}

export interface PartitionContext {
  store: JobStore;
  s3: S3Client;
  clock: Clock;
  exportRecord: ExportRecord;
  source: MysqlSource;
  leaseMs: number;
  heartbeatMs: number;
  stop: () => StopRequest | null;
  log: (line: string) => void;
}

export type Outcome = "completed" | "released" | "lost" | "failed";

class Abandoned extends Error {}

export async function runPartition(ctx: PartitionContext, claimed: Lease): Promise<Outcome> {
  const { store, clock, exportRecord: exp, source } = ctx;
  const spec = exp.spec;
  const what = `partition ${claimed.partition} of export ${claimed.exportId}`;
  let lease = claimed;
  // The lease keeper heartbeats the latest lease; its signal aborts the source's read the moment the lease is lost
  // (fenced by a newer epoch, or not renewed before our own margin), so a fenced holder never reads or writes again.
  const keeper = new LeaseKeeper({
    what,
    clock,
    leaseMs: ctx.leaseMs,
    renewEveryMs: ctx.heartbeatMs,
    skewMs: Math.floor(ctx.leaseMs / 10),
    heldUntil: Date.parse(claimed.leaseExpiresAt),
    // The beat carries the latest lease but its answer is not kept: a checkpoint in flight owns `lease`.
    renew: async () => {
      await store.heartbeat(lease, ctx.leaseMs);
      return true;
    },
    isLoss: (err) => err instanceof LeaseLostError,
    onError: (err) => ctx.log(`heartbeat of ${what} failed (will retry): ${describeError(err)}`),
  }).start();
  const fence = { signal: keeper.signal };
  const open = (l: Lease) =>
    source.read({ lo: l.lo, hi: l.hi, cursor: l.cursor, highWatermark: exp.highWatermark }, { signal: fence.signal });
  let reader: RangeReader = open(lease);
  let columns: Awaited<ReturnType<MysqlSource["columns"]>> = [];
  const prefix = exportPrefix(spec.destination.prefix, exp.exportId);
  const { maxRows, maxBytes } = spec.destination.chunk;
  let carry: Row[] | null = null;
  let boundary = false;
  try {
    columns = await source.columns();
    for (;;) {
      const stop = ctx.stop();
      if (stop) {
        await store.release(lease, { interrupted: stop.interrupted, detail: stop.reason });
        return "released";
      }
      // At every chunk boundary after the first (the claim just checked), re-read the export: a cancelled export
      // stops here, with everything so far committed, and its partition is parked off the claim queue. One
      // GetItem per chunk is small next to the chunk's own transaction.
      if (boundary) {
        const state = (await store.getExport(exp.exportId))?.state ?? "gone";
        if (state !== "RUNNING") {
          ctx.log(`${what}: export is ${state}; stopping after chunk ${lease.chunks}`);
          await store.release(lease, { park: true, detail: `export is ${state}` });
          return "released";
        }
      }
      boundary = true;
      const first = carry ?? (await reader.next());
      carry = null;
      if (!first) {
        await store.complete(lease);
        return "completed";
      }
      const seq = lease.chunks + 1;
      const encoder: Encoder = createEncoder(spec.destination.format, columns, { compression: spec.destination.compression });
      const key = chunkKey(prefix, lease.partition, seq, lease.epoch, encoder.extension);
      const upload = startChunkUpload(ctx.s3, key, encoder.output, encoder.contentType, { bucket: spec.destination.bucket });
      const firstKey = source.keyOf(first[0] as Row);
      let lastKey = firstKey;
      let rows = 0;
      let batch: Row[] = first;
      try {
        for (;;) {
          const room = maxRows - rows;
          if (batch.length > room) {
            carry = batch.slice(room);
            batch = batch.slice(0, room);
          }
          await encoder.write(batch);
          rows += batch.length;
          lastKey = source.keyOf(batch[batch.length - 1] as Row);
          if (carry || rows >= maxRows || encoder.stats().bytes >= maxBytes || ctx.stop()?.mode === "now") break;
          const next = await reader.next();
          if (!next) break;
          batch = next;
        }
        await withDeadline(
          (async () => {
            await encoder.end();
            return upload.done();
          })(),
          ctx.stop()?.deadline,
          clock,
        );
      } catch (err) {
        encoder.destroy(err instanceof Error ? err : undefined);
        await upload.abort();
        throw err;
      }
      const uploaded = await upload.done();
      try {
        lease = await store.checkpoint(
          lease,
          { seq, objectKey: key, rows, bytes: uploaded.bytes, sha256: uploaded.sha256, firstKey, lastKey },
          { leaseMs: ctx.leaseMs },
        );
      } catch (err) {
        if (!(err instanceof RangeChangedError)) throw err;
        // Split while this chunk was written: its tail may cross the new end. Re-read from the committed cursor;
        // the next chunk reuses this seq and epoch, so its object replaces this one.
        const fresh = await store.refresh(lease);
        if (!fresh) return "lost";
        ctx.log(`${what} was split while chunk ${seq} was written; re-reading up to its new end`);
        lease = fresh;
        carry = null;
        reader.close();
        reader = open(lease);
      }
      keeper.extend(Date.parse(lease.leaseExpiresAt));
    }
  } catch (err) {
    const reason: unknown = fence.signal.reason;
    const lost =
      reason instanceof LeaseLostError || reason instanceof LeaseExpiredError ? reason : err instanceof LeaseLostError ? err : null;
    if (lost) {
      ctx.log(`${what}: ${lost.message}; abandoning the uncommitted chunk`);
      return "lost";
    }
    if (err instanceof Abandoned) {
      ctx.log(`${what}: ${err.message}; releasing with the last committed cursor`);
      await store.release(lease, { interrupted: true, detail: err.message }).catch(() => {});
      return "released";
    }
    const message = describeError(err);
    ctx.log(`${what} failed: ${message}`);
    try {
      await store.fail(lease, { error: message.slice(0, 1000), maxAttempts: spec.retry.maxAttempts, backoffMs: spec.retry.backoff * 1000 });
    } catch (failErr) {
      if (!(failErr instanceof LeaseLostError)) ctx.log(`recording the failure of ${what} failed too: ${describeError(failErr)}`);
    }
    return "failed";
  } finally {
    reader.close();
    await keeper.stop();
  }
}

/** Resolves with `work`, or rejects with Abandoned when the clock passes `deadline` (minus a margin for the release). */
async function withDeadline<T>(work: Promise<T>, deadline: number | undefined, clock: Clock): Promise<T> {
  if (deadline === undefined) return work;
  const budget = deadline - clock.now() - 5000;
  if (budget <= 0) throw new Abandoned("no time left before the termination deadline to commit the chunk");
  const timer = new AbortController();
  try {
    return await Promise.race([
      work,
      clock.sleep(budget, timer.signal).then(() => {
        throw new Abandoned("the chunk could not be committed before the termination deadline");
      }),
    ]);
  } finally {
    timer.abort();
  }
}
