import type { JobStore } from "../../lib/jobs/job-store.ts";

/**
 * The rehearsal's hold on the end of the export: it claims one partition itself, with the same JobStore claim any
 * agent makes, before the controller starts, and gives it back once the on-call questions are answered. An export
 * only finishes when every partition is DONE, so until then the run cannot end, the controller keeps a node up for
 * the held work, and the on-call check always has a live fleet to ask, however slow or fast the machine.
 *
 * The lease runs for the rehearsal's whole time limit instead of being heartbeated, so nothing depends on a timer
 * firing in time under load (a crashed rehearsal's state table is thrown away with it). The controller and `why`
 * judge an owner that is not a fleet node by its lease alone, so nothing reaps or releases it early. Splitting may
 * hand the held partition's tail to an idle node; that only keeps the node busy, the head stays held.
 */
export interface ExportGate {
  readonly owner: string;
  readonly partition: number;
  /** Gives the partition back (to the resume queue: the next free node takes it). Idempotent; retry on failure. */
  open(): Promise<void>;
}

export async function holdExport(
  jobs: JobStore,
  opts: { exportId: string; pool: string; partition: number; owner: string; holdMs: number },
): Promise<ExportGate> {
  const lease = await jobs.claimPartition(opts.exportId, opts.partition, { pool: opts.pool, owner: opts.owner, leaseMs: opts.holdMs });
  if (!lease) throw new Error(`holding partition ${opts.partition} of export ${opts.exportId}: it is not claimable`);
  let opened = false;
  return {
    owner: opts.owner,
    partition: opts.partition,
    async open() {
      if (opened) return;
      await jobs.release(lease, { detail: "the rehearsal's on-call check is done" });
      opened = true;
    },
  };
}
