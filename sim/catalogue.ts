/**
 * The sim's fixed market: a dozen instance types with their shape and prices, the zones of the region, and the subnets
 * that map onto them. Prices are plausible us-east-1 figures (USD per hour), not live data; what matters for tests is
 * that types differ, zones differ a little, and spot is cheaper than on-demand.
 */
export interface InstanceTypeInfo {
  type: string;
  vcpus: number;
  memoryMiB: number;
  onDemandPrice: number;
  /** Spot price in the first zone; other zones get a small deterministic offset (see `baseSpotPrice`). */
  spotPrice: number;
}

export const INSTANCE_TYPES: readonly InstanceTypeInfo[] = [
  { type: "t3.large", vcpus: 2, memoryMiB: 8192, onDemandPrice: 0.0832, spotPrice: 0.0301 },
  { type: "m5.large", vcpus: 2, memoryMiB: 8192, onDemandPrice: 0.096, spotPrice: 0.0392 },
  { type: "m5.xlarge", vcpus: 4, memoryMiB: 16384, onDemandPrice: 0.192, spotPrice: 0.0781 },
  { type: "m6i.large", vcpus: 2, memoryMiB: 8192, onDemandPrice: 0.096, spotPrice: 0.0378 },
  { type: "m6i.xlarge", vcpus: 4, memoryMiB: 16384, onDemandPrice: 0.192, spotPrice: 0.0751 },
  { type: "m7i.large", vcpus: 2, memoryMiB: 8192, onDemandPrice: 0.1008, spotPrice: 0.0421 },
  { type: "c5.large", vcpus: 2, memoryMiB: 4096, onDemandPrice: 0.085, spotPrice: 0.0339 },
  { type: "c5.xlarge", vcpus: 4, memoryMiB: 8192, onDemandPrice: 0.17, spotPrice: 0.0672 },
  { type: "c6i.large", vcpus: 2, memoryMiB: 4096, onDemandPrice: 0.085, spotPrice: 0.0327 },
  { type: "c7i.large", vcpus: 2, memoryMiB: 4096, onDemandPrice: 0.0893, spotPrice: 0.0365 },
  { type: "r5.large", vcpus: 2, memoryMiB: 16384, onDemandPrice: 0.126, spotPrice: 0.0458 },
  { type: "r6i.large", vcpus: 2, memoryMiB: 16384, onDemandPrice: 0.126, spotPrice: 0.0443 },
];

export function instanceTypeInfo(type: string): InstanceTypeInfo | undefined {
  return INSTANCE_TYPES.find((t) => t.type === type);
}

export interface SubnetInfo {
  subnetId: string;
  zone: string;
  cidr: string;
}

export interface Geography {
  region: string;
  zones: string[];
  subnets: SubnetInfo[];
  /** Only the listed subnets exist (an account's real VPC); default: any well-formed id exists (see zoneOfSubnet). */
  onlyListedSubnets?: boolean;
}

/** us-east-1 style geography: zones <region>a..c, and one subnet per zone named subnet-a, subnet-b, subnet-c. */
export function defaultGeography(region: string): Geography {
  const zones = ["a", "b", "c"].map((s) => `${region}${s}`);
  const subnets = zones.map((zone, i) => ({
    subnetId: `subnet-${String.fromCharCode(97 + i)}`,
    zone,
    cidr: `10.0.${i * 16}.0/20`,
  }));
  return { region, zones, subnets };
}

export const SUBNET_ID = /^subnet-[0-9a-zA-Z]+$/;

/**
 * The zone a subnet lives in. Configured subnets map as configured; any other well-formed id maps to a zone by a stable
 * hash, so a pool spec written for real EC2 (subnet-0abc...) still runs against the sim without editing.
 */
export function zoneOfSubnet(geo: Geography, subnetId: string): string | undefined {
  const known = geo.subnets.find((s) => s.subnetId === subnetId);
  if (known) return known.zone;
  if (geo.onlyListedSubnets || !SUBNET_ID.test(subnetId)) return undefined;
  let h = 0;
  for (const ch of subnetId) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return geo.zones[h % geo.zones.length];
}

/** The first subnet in a zone, inventing a deterministic id when none is configured for it. */
export function subnetInZone(geo: Geography, zone: string): string {
  return geo.subnets.find((s) => s.zone === zone)?.subnetId ?? `subnet-${zone.replace(/[^0-9a-z]/g, "")}`;
}

/** Zones differ a little in spot price so price-aware allocation has something to choose between. */
export function baseSpotPrice(geo: Geography, type: InstanceTypeInfo, zone: string): number {
  const index = Math.max(0, geo.zones.indexOf(zone));
  const factor = [1, 1.06, 0.97, 1.03][index % 4] ?? 1;
  return Math.round(type.spotPrice * factor * 10000) / 10000;
}
