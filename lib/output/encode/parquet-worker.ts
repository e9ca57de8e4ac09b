/**
 * Worker thread entry: compresses the page bodies of row groups (page-compressor.ts) for every Parquet encoder of the
 * process, one job at a time, in arrival order. The job's buffer arrives transferred and goes back transferred with
 * the result's (the encoder lays out its next row group in it), so nothing is copied across threads and the worker
 * keeps no row group.
 */
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { isMainThread, parentPort } from "node:worker_threads";
import { compressPages, type PageJob } from "./page-compressor.ts";

export type WorkerReply =
  | { ok: true; result: Awaited<ReturnType<typeof compressPages>>; input: ArrayBuffer }
  | { ok: false; id: number; message: string };

/**
 * What the worker's garbage may grow to before it collects it. Its JavaScript heap hardly grows (a job allocates a
 * few objects), so V8 collects only when external memory (zstd's output buffers, one per page) reaches its own limit,
 * 64 MiB over the live size: on a wide table that was ~55 MB of the agent's RSS. A forced GC of this small heap
 * takes tens of ms on a loaded machine, so it runs every few row groups (~20 on the wide table), not after each.
 */
const GARBAGE_BYTES = 8 * 1024 * 1024;

type Gc = (o?: { type?: "minor" | "major" }) => void;
let gc: Gc | null = null;
/** The least external memory seen since the last GC: about what is live. */
let live = Number.POSITIVE_INFINITY;

/** A full GC once the isolate's external memory grew GARBAGE_BYTES over the least it held since the last one. */
function collectGarbage(): void {
  const external = getHeapStatistics().external_memory;
  // Measured at the next job, not right after the GC: V8 frees array buffers concurrently, after gc() returns.
  live = Math.min(live, external);
  if (external - live < GARBAGE_BYTES) return;
  gc ??= exposedGc();
  gc({ type: "major" });
  live = Number.POSITIVE_INFINITY;
}

/**
 * V8's `gc` function. The flag is read when a context is created: a new context gets it without --expose-gc on the
 * command line (the existing globals do not gain it), and the flag is cleared again for contexts made later. Should a
 * runtime not hand it out, the worker only goes without these collections (more memory), never fails a job.
 */
function exposedGc(): Gc {
  try {
    setFlagsFromString("--expose-gc");
    const f = runInNewContext("gc") as unknown;
    return typeof f === "function" ? (f as Gc) : () => {};
  } catch {
    return () => {};
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  let queue = Promise.resolve();
  port.on("message", (job: PageJob) => {
    queue = queue.then(async () => {
      try {
        const result = await compressPages(job);
        port.postMessage({ ok: true, result, input: job.buf } satisfies WorkerReply, [result.buf, job.buf]);
      } catch (err) {
        port.postMessage({ ok: false, id: job.id, message: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
        return;
      }
      // After the reply, and apart from it: a job is answered once, and the queue never breaks on housekeeping.
      try {
        collectGarbage();
      } catch {
        gc = () => {};
      }
    });
  });
}
