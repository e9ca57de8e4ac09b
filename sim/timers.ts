import type { Clock } from "../lib/clock.ts";

/**
 * Schedules sim-time callbacks on the injected clock. Durations are given in sim seconds and multiplied by the time
 * scale (0.01 turns a 120 s spot notice into 1.2 s), so one knob speeds up every delay the sim imposes. All pending
 * callbacks are cancelled when the sim stops.
 */
export class Timers {
  readonly clock: Clock;
  readonly timeScale: number;
  private readonly abort = new AbortController();
  constructor(clock: Clock, timeScale: number) {
    this.clock = clock;
    this.timeScale = timeScale;
  }

  /** Real milliseconds for a duration in sim seconds. */
  ms(simSeconds: number): number {
    return Math.max(0, simSeconds * 1000 * this.timeScale);
  }

  after(simSeconds: number, fn: () => void): void {
    if (this.abort.signal.aborted) return;
    this.clock.sleep(this.ms(simSeconds), this.abort.signal).then(
      () => {
        if (!this.abort.signal.aborted) fn();
      },
      () => {},
    );
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  stop(): void {
    this.abort.abort(new Error("sim stopped"));
  }
}
