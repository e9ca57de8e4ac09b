import { instanceTypeInfo } from "./catalogue.ts";
import { REASONS, type SimInstance } from "./instances.ts";
import type { Market } from "./market.ts";
import type { World } from "./world.ts";

/**
 * Fault injection: spot interruptions (notice, then termination), rebalance recommendations, hard kills, seeded hazard
 * rates per pool, capacity shortages, price changes and API throttling. Every injection is written to the event log.
 * Errors are plain `Error`s with a message saying what was attempted; the control API turns them into 400s.
 */
interface Hazard {
  pool: string;
  ratePerHour: number;
  seed: number;
  tagKey: string;
  abort: AbortController;
}

/** mulberry32: a tiny, well-distributed PRNG, so a hazard run replays exactly from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Chaos {
  private readonly w: World;
  private readonly hazards = new Map<string, Hazard>();

  constructor(w: World) {
    this.w = w;
  }

  private instance(id: string, doing: string): SimInstance {
    const inst = this.w.instances.get(id);
    if (!inst) throw new Error(`${doing} ${id}: no such instance`);
    return inst;
  }

  /** Spot interruption: the notice appears in IMDS at once; termination follows after `noticeSec` (sim seconds). */
  interrupt(id: string, noticeSec = this.w.settings.noticeSec): { instanceId: string; terminateAt: string } {
    const inst = this.instance(id, "interrupting");
    if (inst.lifecycle !== "spot") throw new Error(`interrupting ${id}: it is an on-demand instance; use kill`);
    const at = this.w.instances.interrupt(inst, noticeSec, { cause: "injected" });
    return { instanceId: id, terminateAt: new Date(at).toISOString() };
  }

  rebalance(id: string): void {
    this.w.instances.rebalance(this.instance(id, "sending a rebalance recommendation to"));
  }

  /** The host disappears: SIGKILL to the process group, no notice. */
  kill(id: string): void {
    const inst = this.instance(id, "killing");
    if (inst.state !== "pending" && inst.state !== "running") throw new Error(`killing ${id}: it is ${inst.state}`);
    this.w.events.add("killed", { instanceId: id });
    this.w.instances.shutdown(inst, inst.lifecycle === "spot" ? REASONS.spot : REASONS.internal, { hard: true });
  }

  setCapacity(market: Market, type: string, zone: string, available: number | undefined): void {
    if (!instanceTypeInfo(type)) throw new Error(`setting capacity of ${type}: unknown instance type`);
    if (!this.w.geo.zones.includes(zone)) throw new Error(`setting capacity in ${zone}: unknown zone (${this.w.geo.zones.join(", ")})`);
    if (available !== undefined && (!Number.isInteger(available) || available < 0)) {
      throw new Error(`setting capacity of ${type} in ${zone}: available must be a whole number >= 0 or none`);
    }
    this.w.market.setCapacity(market, type, zone, available);
    this.w.events.add("capacity-set", { market, instanceType: type, zone, available: available ?? "unlimited" });
  }

  setPrice(type: string, zone: string, price: number): void {
    if (!(price > 0)) throw new Error(`setting the spot price of ${type} in ${zone}: price must be > 0`);
    this.w.market.setSpotPrice(type, zone, price);
    this.w.events.add("price-set", { instanceType: type, zone, price });
  }

  throttle(count: number, actions?: string[]): void {
    if (!Number.isInteger(count) || count < 1) throw new Error("injecting throttling: count must be a whole number >= 1");
    this.w.market.addThrottle(count, actions);
    this.w.events.add("throttle-set", { count, actions: actions ?? "all" });
  }

  /**
   * Interrupts spot instances tagged `<poolTag>=<pool>` at random: every hazard tick each candidate (in launch order)
   * draws once from the seeded generator and is interrupted with probability 1 - exp(-rate * tick / 1 h). Same seed,
   * same instances and same clock steps give the same victims at the same times. A rate of 0 stops the hazard.
   */
  hazard(pool: string, ratePerHour: number, seed: number, tagKey = this.w.settings.poolTag): void {
    if (!(ratePerHour >= 0)) throw new Error(`setting a hazard on pool ${pool}: rate must be >= 0 per hour`);
    if (!Number.isInteger(seed)) throw new Error(`setting a hazard on pool ${pool}: seed must be an integer`);
    this.hazards.get(pool)?.abort.abort();
    this.hazards.delete(pool);
    this.w.events.add(ratePerHour > 0 ? "hazard-started" : "hazard-stopped", { pool, ratePerHour, seed, tagKey });
    if (ratePerHour === 0) return;
    const hazard: Hazard = { pool, ratePerHour, seed, tagKey, abort: new AbortController() };
    this.hazards.set(pool, hazard);
    void this.runHazard(hazard);
  }

  private async runHazard(h: Hazard): Promise<void> {
    const random = seededRandom(h.seed);
    const tickSec = this.w.settings.hazardTickSec;
    const p = 1 - Math.exp((-h.ratePerHour * tickSec) / 3600);
    const signal = AbortSignal.any([h.abort.signal, this.w.timers.signal]);
    let tick = 0;
    while (!signal.aborted) {
      try {
        await this.w.clock.sleep(this.w.timers.ms(tickSec), signal);
      } catch {
        return;
      }
      tick++;
      const candidates = this.w.instances
        .live()
        .filter((i) => i.lifecycle === "spot" && i.noticeTime === undefined && i.tagMap.get(h.tagKey) === h.pool)
        .sort((a, b) => a.seq - b.seq);
      for (const inst of candidates) {
        if (random() < p) {
          this.w.instances.interrupt(inst, this.w.settings.noticeSec, { cause: "hazard", pool: h.pool, seed: h.seed, tick });
        }
      }
    }
  }

  status(): { hazards: { pool: string; ratePerHour: number; seed: number; tagKey: string }[] } {
    return {
      hazards: [...this.hazards.values()].map(({ pool, ratePerHour, seed, tagKey }) => ({ pool, ratePerHour, seed, tagKey })),
    };
  }
}
