import { appendFileSync } from "node:fs";
import type { Clock } from "../lib/clock.ts";

/**
 * The event log: every injected fault and every state change the sim makes on its own, in order, so tests and
 * operators can assert on what happened ("was i-0ab interrupted, when, by which hazard"). Kept in memory and appended
 * to `<state dir>/events.jsonl` when a file is given.
 */
export interface SimEvent {
  seq: number;
  time: string;
  type: string;
  [key: string]: unknown;
}

export class EventLog {
  private readonly clock: Clock;
  private readonly file?: string;
  private readonly events: SimEvent[] = [];
  constructor(clock: Clock, file?: string) {
    this.clock = clock;
    this.file = file;
  }

  add(type: string, fields: Record<string, unknown> = {}): SimEvent {
    const event: SimEvent = { seq: this.events.length + 1, time: new Date(this.clock.now()).toISOString(), type, ...fields };
    this.events.push(event);
    if (this.file) {
      try {
        appendFileSync(this.file, `${JSON.stringify(event)}\n`);
      } catch {
        // The in-memory log stays authoritative; a vanished state dir must not take the API down.
      }
    }
    return event;
  }

  /** Events with seq > since, optionally of some types only. */
  list(since = 0, types?: string[]): SimEvent[] {
    return this.events.filter((e) => e.seq > since && (!types || types.includes(e.type)));
  }
}
