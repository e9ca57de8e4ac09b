import type { Clock } from "../clock.ts";

/** A lease this holder can no longer count on: the store said so, or renewals failed until the skew margin ran out. */
export class LeaseExpiredError extends Error {
  constructor(what: string, cause?: unknown) {
    super(`${what}: not renewed in time, so another holder may have it by now`, { cause });
    this.name = "LeaseExpiredError";
  }
}

export interface LeaseKeeperOptions {
  /** What the lease covers, for messages: "partition 3 of export e-1", "the leader lease", "schedule nightly". */
  what: string;
  clock: Clock;
  /** How long one renewal holds the lease. */
  leaseMs: number;
  /** Time between renewals (default a third of leaseMs, so two can fail before the lease runs out). */
  renewEveryMs?: number;
  /**
   * How much sooner than its expiry the holder gives the lease up when renewals fail: a successor takes over by its own
   * clock, which may run ahead of ours.
   */
  skewMs?: number;
  /** When the lease currently held ends (default: leaseMs from now). */
  heldUntil?: number;
  /** Renews once: false (or a throw that isLoss accepts) when the lease is gone; any other throw is transient. */
  renew: () => Promise<boolean>;
  isLoss?: (err: unknown) => boolean;
  /** Called once, when the lease is lost; `signal` is aborted with the same reason. */
  onLost?: (reason: Error) => void;
  /** A transient renewal failure (retried at the next renewal while the lease lasts). */
  onError?: (err: unknown) => void;
}

/**
 * The one lease keeper, for partition leases, the controller's leader lease and schedule locks alike. It renews on the
 * injected clock, either in the background (`start`) or when its holder asks (`renewIfDue`, for a loop that already
 * wakes often enough). Loss is final and reported once: `signal` aborts (work under the lease watches it) and `onLost`
 * fires. The holder also stops counting on a lease that renewals could not extend before `expiresAt - skewMs`, even if
 * the store never answered.
 */
export class LeaseKeeper {
  private readonly opts: Required<Omit<LeaseKeeperOptions, "heldUntil" | "isLoss" | "onLost" | "onError">> & LeaseKeeperOptions;
  private readonly aborter = new AbortController();
  private readonly stopper = new AbortController();
  private expiresAt: number;
  private renewedAt: number;
  private loop: Promise<void> | null = null;

  constructor(opts: LeaseKeeperOptions) {
    this.opts = { renewEveryMs: Math.max(1, Math.floor(opts.leaseMs / 3)), skewMs: 0, ...opts };
    this.renewedAt = opts.clock.now();
    this.expiresAt = opts.heldUntil ?? this.renewedAt + opts.leaseMs;
  }

  /** Aborted (with the reason) once the lease is lost. */
  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  /** When the next renewal is due, for a holder that renews through renewIfDue from a loop of its own. */
  get renewDueAt(): number {
    return this.renewedAt + this.opts.renewEveryMs;
  }

  /** True while the lease is ours with at least the skew margin left. */
  held(): boolean {
    if (this.aborter.signal.aborted) return false;
    if (this.opts.clock.now() < this.expiresAt - this.opts.skewMs) return true;
    this.lose(new LeaseExpiredError(this.opts.what));
    return false;
  }

  /** The holder extended the lease itself (a checkpoint renews a partition lease as it commits): until `untilMs`. */
  extend(untilMs: number): void {
    this.renewedAt = this.opts.clock.now();
    this.expiresAt = Math.max(this.expiresAt, untilMs);
  }

  /** Renews when a renewal is due (or `force`); returns whether the lease is still held afterwards. */
  async renewIfDue(force = false): Promise<boolean> {
    if (!this.held()) return false;
    const now = this.opts.clock.now();
    if (!force && now - this.renewedAt < this.opts.renewEveryMs) return true;
    try {
      if (!(await this.opts.renew())) {
        this.lose(new Error(`${this.opts.what}: taken over by another holder`));
        return false;
      }
      this.renewedAt = now;
      this.expiresAt = now + this.opts.leaseMs;
    } catch (err) {
      if (this.opts.isLoss?.(err)) {
        this.lose(err instanceof Error ? err : new Error(String(err)));
        return false;
      }
      this.opts.onError?.(err);
    }
    return this.held();
  }

  /** Renews every renewEveryMs in the background until stop() or loss. */
  start(): this {
    this.loop ??= (async () => {
      const stop = this.stopper.signal;
      while (!stop.aborted && !this.aborter.signal.aborted) {
        // Wake no later than the margin, so a lease that cannot be renewed is given up on time.
        const untilMargin = this.expiresAt - this.opts.skewMs - this.opts.clock.now();
        try {
          await this.opts.clock.sleep(Math.max(1, Math.min(this.opts.renewEveryMs, untilMargin)), stop);
        } catch {
          return;
        }
        if (!stop.aborted) await this.renewIfDue();
      }
    })();
    return this;
  }

  /** Stops renewing (the lease then runs out unless its holder releases it); never reports a loss. */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
  }

  private lose(reason: Error): void {
    if (this.aborter.signal.aborted || this.stopper.signal.aborted) return;
    this.aborter.abort(reason);
    this.opts.onLost?.(reason);
  }
}
