import { type JobStore, type Lease, LeaseLostError } from "../controller/store/job-store.ts";
import type { Clock } from "../lib/clock.ts";

interface LeaseKeeperOptions {
  clock: Clock;
  intervalMs: number;
  leaseMs: number;
  onLost: (err: LeaseLostError) => void;
  onError?: (err: unknown) => void;
}

/**
 * Heartbeats a lease until stopped. When the store says the lease is lost, `onLost` fires once (the runner aborts its
 * pipeline through an AbortSignal) and heartbeating stops: a fenced-off holder never writes again. Other errors are
 * reported and retried on the next beat; if the store stays unreachable the lease expires and the next write fails.
 */
export class LeaseKeeper {
  private readonly store: JobStore;
  private readonly opts: LeaseKeeperOptions;
  private lease: Lease;
  private readonly stopper = new AbortController();
  private readonly loop: Promise<void>;

  constructor(store: JobStore, lease: Lease, opts: LeaseKeeperOptions) {
    this.store = store;
    this.opts = opts;
    this.lease = lease;
    this.loop = this.run();
  }

  /** The runner's latest lease (after a checkpoint), so a beat never carries stale state. */
  update(lease: Lease): void {
    this.lease = lease;
  }

  private async run(): Promise<void> {
    const { clock, intervalMs, leaseMs } = this.opts;
    while (!this.stopper.signal.aborted) {
      try {
        await clock.sleep(intervalMs, this.stopper.signal);
      } catch {
        return;
      }
      try {
        await this.store.heartbeat(this.lease, leaseMs);
      } catch (err) {
        if (err instanceof LeaseLostError) {
          if (!this.stopper.signal.aborted) this.opts.onLost(err);
          return;
        }
        this.opts.onError?.(err);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
  }
}
