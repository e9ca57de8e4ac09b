import type { PoolSpec } from "../../config/pool-spec.ts";
import type { CloudProvider } from "../cloud/cloud-provider.ts";
import type { PoolPricing } from "./estimate.ts";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

const typeNames = (spec: PoolSpec) => spec.instanceTypes.map((t) => (typeof t === "string" ? t : t.type));

/**
 * The pool's prices now: for a spot pool, the latest DescribeSpotPriceHistory point of each of its instance types in
 * each of its subnets' zones (CloudProvider.spotPrices); for an on-demand pool, the provider's on-demand price of each
 * type. The median is what the estimate uses: price-capacity-optimized allocation picks cheap pools with capacity,
 * not always the cheapest. Instance weights are not applied (a node is a node).
 */
export async function poolPricing(cloud: CloudProvider, spec: PoolSpec): Promise<PoolPricing> {
  const types = typeNames(spec);
  if (spec.purchase === "on-demand") {
    const prices = types.map((t) => cloud.onDemandPrice(t)).filter((p): p is number => p !== null && p > 0);
    return summarize("on-demand", prices, `on-demand prices of ${prices.length} of ${types.length} types`);
  }
  let zones: string[];
  try {
    zones = [...new Set(await Promise.all(spec.subnets.map((s) => cloud.zoneOfSubnet(s))))];
  } catch (cause) {
    throw new Error(`reading the zones of pool ${spec.name}'s subnets`, { cause });
  }
  const points = await cloud.spotPrices(types, zones);
  const prices = points.map((p) => p.price).filter((p) => p > 0);
  return summarize(
    "spot",
    prices,
    `spot prices now (DescribeSpotPriceHistory) of ${prices.length} (type, zone) pairs: ${types.join(", ")} in ${zones.join(", ")}`,
  );
}

function summarize(market: PoolPricing["market"], prices: number[], what: string): PoolPricing {
  if (prices.length === 0) return { market, median: null, low: null, high: null, pairs: 0, detail: `no ${market} price known: no cost` };
  const m = median(prices);
  const low = Math.min(...prices);
  const high = Math.max(...prices);
  return {
    market,
    median: m,
    low,
    high,
    pairs: prices.length,
    detail: `${what}; median $${m.toFixed(4)}/node-hour (range $${low.toFixed(4)}-$${high.toFixed(4)})`,
  };
}
