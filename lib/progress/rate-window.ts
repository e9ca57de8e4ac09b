/**
 * A rate and an ETA that do not jump: the rows done over the last `windowMs` (not a lifetime average, which lags a run
 * that sped up, and not the last sample, which swings with every chunk commit), smoothed once more by an exponential
 * moving average so a chunk landing between two samples moves the figure a little, not threefold.
 * Fed cumulative totals with the time they were seen (from an injected clock), so tests step a fake clock.
 */
export interface RateWindowOptions {
  /** The span the rate is measured over (default 60 s). */
  windowMs?: number;
  /** Weight of the newest windowed rate in the smoothed one, 0..1 (default 0.2). */
  alpha?: number;
}

export class RateWindow {
  private readonly windowMs: number;
  private readonly alpha: number;
  private readonly samples: { at: number; total: number }[] = [];
  private smoothed: number | null = null;

  constructor(opts: RateWindowOptions = {}) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.alpha = opts.alpha ?? 0.2;
  }

  /** Records the cumulative `total` seen at `at` (ms). Totals that go backwards (a restarted count) start afresh. */
  add(total: number, at: number): void {
    const last = this.samples.at(-1);
    if (last && (total < last.total || at < last.at)) {
      this.samples.length = 0;
      this.smoothed = null;
    }
    this.samples.push({ at, total });
    // Keep one sample at or before the window's start, so the window is always fully covered once it can be.
    while (this.samples.length > 2 && (this.samples[1] as { at: number }).at <= at - this.windowMs) this.samples.shift();
    const first = this.samples[0] as { at: number; total: number };
    if (at - first.at <= 0) return;
    const windowed = ((total - first.total) * 1000) / (at - first.at);
    this.smoothed = this.smoothed === null ? windowed : this.alpha * windowed + (1 - this.alpha) * this.smoothed;
  }

  /** Units per second, or null before two samples. */
  rate(): number | null {
    return this.smoothed;
  }

  /** Milliseconds to do `remaining` more at the current rate; null when the rate is unknown or zero. */
  etaMs(remaining: number): number | null {
    const r = this.smoothed;
    if (r === null || r <= 0) return remaining <= 0 ? 0 : null;
    return Math.max(0, (remaining / r) * 1000);
  }
}
