/**
 * Worker thread entry: compresses the page bodies of row groups (page-compressor.ts) for every Parquet encoder of the
 * process, one job at a time, in arrival order. The job's buffer arrives transferred and the result's buffer goes back
 * transferred, so nothing is copied across threads.
 */
import { isMainThread, parentPort } from "node:worker_threads";
import { compressPages, type PageJob } from "./page-compressor.ts";

export type WorkerReply = { ok: true; result: Awaited<ReturnType<typeof compressPages>> } | { ok: false; id: number; message: string };

if (!isMainThread && parentPort) {
  const port = parentPort;
  let queue = Promise.resolve();
  port.on("message", (job: PageJob) => {
    queue = queue.then(async () => {
      try {
        const result = await compressPages(job);
        port.postMessage({ ok: true, result } satisfies WorkerReply, [result.buf]);
      } catch (err) {
        port.postMessage({ ok: false, id: job.id, message: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
      }
    });
  });
}
