import type { Clock } from "../lib/clock.ts";
import { baseSpotPrice, type Geography, INSTANCE_TYPES, instanceTypeInfo } from "./catalogue.ts";

export type Market = "spot" | "on-demand";

/**
 * The market's knobs the chaos controls turn: capacity per (market, type, zone), spot prices with their history, and
 * injected throttling. Capacity is a pool size: at most N live (pending or running) instances of that market, type and
 * zone; unset means unlimited, 0 means none. Existing instances are never evicted by lowering it.
 */
export class MarketState {
  readonly geo: Geography;
  private readonly clock: Clock;
  private readonly capacity = new Map<string, number>();
  private readonly prices = new Map<string, { time: number; price: number }[]>();
  private throttles: { remaining: number; actions?: Set<string> }[] = [];

  constructor(geo: Geography, clock: Clock) {
    this.geo = geo;
    this.clock = clock;
    const start = clock.now();
    for (const t of INSTANCE_TYPES) {
      for (const z of geo.zones) this.prices.set(`${t.type}|${z}`, [{ time: start, price: baseSpotPrice(geo, t, z) }]);
    }
  }

  setCapacity(market: Market, type: string, zone: string, available: number | undefined): void {
    const key = `${market}|${type}|${zone}`;
    if (available === undefined) this.capacity.delete(key);
    else this.capacity.set(key, available);
  }

  /** Pool size for (market, type, zone), Infinity when unlimited. */
  capacityOf(market: Market, type: string, zone: string): number {
    return this.capacity.get(`${market}|${type}|${zone}`) ?? Number.POSITIVE_INFINITY;
  }

  capacitySettings(): { market: string; instanceType: string; zone: string; available: number }[] {
    return [...this.capacity].map(([k, available]) => {
      const [market = "", instanceType = "", zone = ""] = k.split("|");
      return { market, instanceType, zone, available };
    });
  }

  spotPrice(type: string, zone: string): number | undefined {
    return this.prices.get(`${type}|${zone}`)?.at(-1)?.price;
  }

  onDemandPrice(type: string): number | undefined {
    return instanceTypeInfo(type)?.onDemandPrice;
  }

  setSpotPrice(type: string, zone: string, price: number): void {
    const history = this.prices.get(`${type}|${zone}`);
    if (!history) throw new Error(`setting the spot price of ${type} in ${zone}: unknown instance type or zone`);
    history.push({ time: this.clock.now(), price });
  }

  /** Every (type, zone) price point, oldest first. */
  priceHistory(): { type: string; zone: string; time: number; price: number }[] {
    const out: { type: string; zone: string; time: number; price: number }[] = [];
    for (const [k, points] of this.prices) {
      const [type = "", zone = ""] = k.split("|");
      for (const p of points) out.push({ type, zone, ...p });
    }
    return out;
  }

  /** Makes the next `count` EC2 calls (of the given actions, or any) fail with RequestLimitExceeded. */
  addThrottle(count: number, actions?: string[]): void {
    this.throttles.push({ remaining: count, actions: actions?.length ? new Set(actions) : undefined });
  }

  takeThrottle(action: string): boolean {
    const t = this.throttles.find((x) => x.remaining > 0 && (!x.actions || x.actions.has(action)));
    if (!t) return false;
    t.remaining--;
    this.throttles = this.throttles.filter((x) => x.remaining > 0);
    return true;
  }
}
