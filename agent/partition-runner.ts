import type { S3Client } from "@aws-sdk/client-s3";
import type { ExportRecord } from "../config/records.ts";
import { AGENT_BUFFERS } from "../config/settings.ts";
import type { Clock } from "../lib/clock.ts";
import { describeError } from "../lib/errors.ts";
import { type JobStore, type Lease, LeaseLostError, type NewChunk, RangeChangedError } from "../lib/jobs/job-store.ts";
import { LeaseExpiredError, LeaseKeeper } from "../lib/leases/keeper.ts";
import type { MysqlSource, RangeReader } from "../lib/mysql/range-source.ts";
import { createEncoder, doneWith, type Encoder, type RowBatch } from "../lib/output/encode/index.ts";
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

/** One partition's run: its latest lease and the keeper renewing it, the reader over its range, rows read ahead. */
interface PartitionRun {
  ctx: PartitionContext;
  what: string;
  lease: Lease;
  keeper: LeaseKeeper;
  reader: RangeReader<RowBatch>;
  columns: Awaited<ReturnType<MysqlSource["columns"]>>;
  /** Rows read but not written: the next chunk starts with them. */
  carry: RowBatch | null;
  prefix: string;
}

export async function runPartition(ctx: PartitionContext, claimed: Lease): Promise<Outcome> {
  const run = startRun(ctx, claimed);
  try {
    run.columns = await ctx.source.columns();
    for (let boundary = false; ; boundary = true) {
      const stopped = await stopBeforeChunk(run, boundary);
      if (stopped) return stopped;
      const first = run.carry ?? (await run.reader.next());
      run.carry = null;
      if (!first) {
        await ctx.store.complete(run.lease);
        return "completed";
      }
      const chunk = await writeChunk(run, first);
      if (!(await commitChunk(run, chunk))) return "lost";
      run.keeper.extend(Date.parse(run.lease.leaseExpiresAt));
    }
  } catch (err) {
    return settleError(run, err);
  } finally {
    run.reader.close();
    await run.keeper.stop();
  }
}

function startRun(ctx: PartitionContext, claimed: Lease): PartitionRun {
  const what = `partition ${claimed.partition} of export ${claimed.exportId}`;
  // Before the keeper starts: a throw from here on would leave it heartbeating a lease nobody works on.
  const prefix = exportPrefix(ctx.exportRecord.spec.destination.prefix, ctx.exportRecord.exportId);
  // The lease keeper heartbeats the latest lease; its signal aborts the source's read the moment the lease is lost
  // (fenced by a newer epoch, or not renewed before our own margin), so a fenced holder never reads or writes again.
  const keeper = new LeaseKeeper({
    what,
    clock: ctx.clock,
    leaseMs: ctx.leaseMs,
    renewEveryMs: ctx.heartbeatMs,
    skewMs: Math.floor(ctx.leaseMs / 10),
    heldUntil: Date.parse(claimed.leaseExpiresAt),
    // The beat carries the latest lease but its answer is not kept: a checkpoint in flight owns `lease`. The first
    // beat comes a renewal interval after start, when `run` is set.
    renew: async () => {
      await ctx.store.heartbeat(run.lease, ctx.leaseMs);
      return true;
    },
    isLoss: (err) => err instanceof LeaseLostError,
    onError: (err) => ctx.log(`heartbeat of ${what} failed (will retry): ${describeError(err)}`),
  }).start();
  let reader: RangeReader<RowBatch>;
  try {
    reader = openReader(ctx, claimed, keeper.signal);
  } catch (err) {
    keeper.stop().catch(() => {});
    throw err;
  }
  const run: PartitionRun = { ctx, what, lease: claimed, keeper, reader, columns: [], carry: null, prefix };
  return run;
}

/** Every encoder reads the rows' wire bytes itself (row arrays only when enrichment fills them). */
function openReader(ctx: PartitionContext, l: Lease, signal: AbortSignal): RangeReader<RowBatch> {
  const range = { lo: l.lo, hi: l.hi, cursor: l.cursor, highWatermark: ctx.exportRecord.highWatermark };
  return ctx.source.readWire(range, { signal, batchBytes: AGENT_BUFFERS.batchBytes });
}

/** Checked before every chunk: a stop the agent asked for, or (past the first chunk) an export no longer RUNNING. */
async function stopBeforeChunk(run: PartitionRun, boundary: boolean): Promise<Outcome | null> {
  const { ctx, lease } = run;
  const stop = ctx.stop();
  if (stop) {
    await ctx.store.release(lease, { interrupted: stop.interrupted, detail: stop.reason });
    return "released";
  }
  // At every chunk boundary after the first (the claim just checked), re-read the export: a cancelled export
  // stops here, with everything so far committed, and its partition is parked off the claim queue. One
  // GetItem per chunk is small next to the chunk's own transaction.
  if (boundary) {
    const state = (await ctx.store.getExport(ctx.exportRecord.exportId))?.state ?? "gone";
    if (state !== "RUNNING") {
      ctx.log(`${run.what}: export is ${state}; stopping after chunk ${lease.chunks}`);
      await ctx.store.release(lease, { park: true, detail: `export is ${state}` });
      return "released";
    }
  }
  return null;
}

/** Encodes rows from `first` on into the next chunk object and uploads it; rows past the chunk's end are carried. */
async function writeChunk(run: PartitionRun, first: RowBatch): Promise<NewChunk> {
  const { ctx, lease } = run;
  const { destination } = ctx.exportRecord.spec;
  const { maxRows, maxBytes } = destination.chunk;
  const seq = lease.chunks + 1;
  const encoder: Encoder = createEncoder(destination.format, run.columns, {
    compression: destination.compression,
    highWaterMark: AGENT_BUFFERS.encoderHighWaterMark,
    ...destination.parquet,
  });
  const key = chunkKey(run.prefix, lease.partition, seq, lease.epoch, encoder.extension);
  const upload = startChunkUpload(ctx.s3, key, encoder.output, encoder.contentType, {
    bucket: destination.bucket,
    sse: destination.sse,
    partSize: AGENT_BUFFERS.partSize,
  });
  const firstKey = ctx.source.keyAt(first, 0);
  let lastKey = firstKey;
  let rows = 0;
  let batch: RowBatch = first;
  try {
    for (;;) {
      const room = maxRows - rows;
      if (batch.length > room) {
        const whole = batch;
        run.carry = whole.slice(room);
        batch = whole.slice(0, room);
        doneWith(whole);
      }
      await encoder.write(batch);
      rows += batch.length;
      lastKey = ctx.source.keyAt(batch, batch.length - 1);
      // Encoded and its last key read: its buffers may take a later batch's rows.
      doneWith(batch);
      if (run.carry || rows >= maxRows || encoder.stats().bytes >= maxBytes || ctx.stop()?.mode === "now") break;
      const next = await run.reader.next();
      if (!next) break;
      batch = next;
    }
    await withDeadline(
      (async () => {
        await encoder.end();
        return upload.done();
      })(),
      ctx.stop()?.deadline,
      ctx.clock,
    );
  } catch (err) {
    encoder.destroy(err instanceof Error ? err : undefined);
    await upload.abort();
    throw err;
  }
  const uploaded = await upload.done();
  return { seq, objectKey: key, rows, bytes: uploaded.bytes, sha256: uploaded.sha256, firstKey, lastKey };
}

/** Checkpoints the chunk; false when the partition was split meanwhile and the lease could not be read back. */
async function commitChunk(run: PartitionRun, chunk: NewChunk): Promise<boolean> {
  const { ctx } = run;
  try {
    run.lease = await ctx.store.checkpoint(run.lease, chunk, { leaseMs: ctx.leaseMs });
  } catch (err) {
    if (!(err instanceof RangeChangedError)) throw err;
    // Split while this chunk was written: its tail may cross the new end. Re-read from the committed cursor;
    // the next chunk reuses this seq and epoch, so its object replaces this one.
    const fresh = await ctx.store.refresh(run.lease);
    if (!fresh) return false;
    ctx.log(`${run.what} was split while chunk ${chunk.seq} was written; re-reading up to its new end`);
    run.lease = fresh;
    run.carry = null;
    run.reader.close();
    run.reader = openReader(ctx, fresh, run.keeper.signal);
  }
  return true;
}

/** A lost lease is abandoned, a missed termination deadline released, anything else recorded as a failed attempt. */
async function settleError(run: PartitionRun, err: unknown): Promise<Outcome> {
  const { ctx, what, lease } = run;
  const reason: unknown = run.keeper.signal.reason;
  const lost =
    reason instanceof LeaseLostError || reason instanceof LeaseExpiredError ? reason : err instanceof LeaseLostError ? err : null;
  if (lost) {
    ctx.log(`${what}: ${lost.message}; abandoning the uncommitted chunk`);
    return "lost";
  }
  if (err instanceof Abandoned) {
    ctx.log(`${what}: ${err.message}; releasing with the last committed cursor`);
    await ctx.store.release(lease, { interrupted: true, detail: err.message }).catch(() => {});
    return "released";
  }
  const message = describeError(err);
  ctx.log(`${what} failed: ${message}`);
  const { retry } = ctx.exportRecord.spec;
  try {
    await ctx.store.fail(lease, { error: message.slice(0, 1000), maxAttempts: retry.maxAttempts, backoffMs: retry.backoff * 1000 });
  } catch (failErr) {
    if (!(failErr instanceof LeaseLostError)) ctx.log(`recording the failure of ${what} failed too: ${describeError(failErr)}`);
  }
  return "failed";
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
