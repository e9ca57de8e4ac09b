import type { Clock } from "../../lib/clock.ts";
import type { FrontDoorService } from "./front-door.ts";

/**
 * Outages of a sim's front doors: for a few seconds S3 or DynamoDB "is down" for every caller that goes through the
 * sim (its nodes, and whoever uses the sim's env), while the shared local stack behind the door keeps serving everyone
 * else. `refuse` resets each connection at once (a stopped service behind a load balancer); `hang` holds each call
 * until the outage ends and then resets it (a service that accepts and never answers), so callers see their own
 * timeouts and retries, not a tidy error reply.
 */
export type OutageMode = "refuse" | "hang";

export interface Outage {
  service: FrontDoorService;
  mode: OutageMode;
  /** Epoch ms on the sim's clock. */
  from: number;
  until: number;
  /** Calls that arrived during it (none of them reached the service). */
  calls: number;
}

export class Outages {
  private readonly active = new Map<FrontDoorService, Outage>();
  private readonly past: Outage[] = [];

  /** Starts (or replaces) the outage of `service` from now for `ms`. */
  start(o: { service: FrontDoorService; mode: OutageMode; ms: number; now: number }): Outage {
    if (o.service !== "s3" && o.service !== "dynamodb")
      throw new Error(`starting an outage of ${o.service}: service must be s3 or dynamodb`);
    if (o.mode !== "refuse" && o.mode !== "hang") throw new Error(`starting an outage of ${o.service}: mode must be refuse or hang`);
    if (!(o.ms > 0 && o.ms <= 600_000)) throw new Error(`starting an outage of ${o.service}: seconds must be > 0 and at most 600`);
    this.end(o.service, o.now);
    const outage: Outage = { service: o.service, mode: o.mode, from: o.now, until: o.now + o.ms, calls: 0 };
    this.active.set(o.service, outage);
    return outage;
  }

  /** The outage `service` is in at `now`, if any (an expired one is moved to the past). */
  current(service: FrontDoorService, now: number): Outage | undefined {
    const o = this.active.get(service);
    if (o && now >= o.until) this.end(service, now);
    return this.active.get(service);
  }

  private end(service: FrontDoorService, now: number): void {
    const o = this.active.get(service);
    if (!o) return;
    o.until = Math.min(o.until, now);
    this.past.push(o);
    this.active.delete(service);
  }

  list(now: number): { active: Outage[]; past: Outage[] } {
    for (const s of [...this.active.keys()]) this.current(s, now);
    return { active: [...this.active.values()], past: [...this.past] };
  }
}

/**
 * What a front door does with a call during an outage: `refuse` resets the connection now, `hang` waits for the
 * outage's end first. Either way the call never reaches the service.
 */
export async function suffer(outage: Outage, socket: { destroy(): void }, clock: Clock): Promise<void> {
  outage.calls++;
  if (outage.mode === "hang") {
    const wait = outage.until - clock.now();
    if (wait > 0) await clock.sleep(wait);
  }
  socket.destroy();
}

/** One set of outages per sim, found by its call recorder (which the front doors and the control API both hold). */
const outages = new WeakMap<object, Outages>();

export function outagesOf(recorder: object): Outages {
  let o = outages.get(recorder);
  if (!o) {
    o = new Outages();
    outages.set(recorder, o);
  }
  return o;
}
