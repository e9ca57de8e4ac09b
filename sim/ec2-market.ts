import {
  type _InstanceType,
  DescribeAvailabilityZones$,
  type DescribeAvailabilityZonesRequest,
  type DescribeAvailabilityZonesResult,
  DescribeInstanceTypes$,
  type DescribeInstanceTypesRequest,
  type DescribeInstanceTypesResult,
  DescribeRegions$,
  type DescribeRegionsRequest,
  type DescribeRegionsResult,
  DescribeSpotPriceHistory$,
  type DescribeSpotPriceHistoryRequest,
  type DescribeSpotPriceHistoryResult,
  DescribeSubnets$,
  type DescribeSubnetsRequest,
  type DescribeSubnetsResult,
  type InstanceTypeInfo as Ec2InstanceTypeInfo,
} from "@aws-sdk/client-ec2";
import { INSTANCE_TYPES, type InstanceTypeInfo, SUBNET_ID, zoneOfSubnet } from "./catalogue.ts";
import { applyFilters, type Ec2Operation, op, paginate } from "./ec2-common.ts";
import { Ec2Error } from "./ec2-errors.ts";
import type { World } from "./world.ts";

/** The market's read side: spot price history, the instance-type catalogue, zones and subnets. */
const typeInfo = (t: InstanceTypeInfo): Ec2InstanceTypeInfo => ({
  InstanceType: t.type as _InstanceType,
  CurrentGeneration: true,
  SupportedUsageClasses: ["on-demand", "spot"],
  SupportedRootDeviceTypes: ["ebs"],
  SupportedVirtualizationTypes: ["hvm"],
  BareMetal: false,
  Hypervisor: "nitro",
  ProcessorInfo: { SupportedArchitectures: ["x86_64"] },
  VCpuInfo: { DefaultVCpus: t.vcpus, DefaultCores: t.vcpus / 2, DefaultThreadsPerCore: 2 },
  MemoryInfo: { SizeInMiB: t.memoryMiB },
  InstanceStorageSupported: false,
  EbsInfo: { EbsOptimizedSupport: "default" },
  NetworkInfo: { NetworkPerformance: "Up to 10 Gigabit", MaximumNetworkInterfaces: 3 },
  BurstablePerformanceSupported: t.type.startsWith("t"),
});

function describeInstanceTypes(_w: World, input: DescribeInstanceTypesRequest): DescribeInstanceTypesResult {
  let types = [...INSTANCE_TYPES];
  if (input.InstanceTypes?.length) {
    const unknown = input.InstanceTypes.filter((t) => !types.some((x) => x.type === t));
    if (unknown.length) {
      throw new Ec2Error("InvalidInstanceType", `The following supplied instance types do not exist: [${unknown.join(", ")}]`);
    }
    types = types.filter((t) => input.InstanceTypes?.includes(t.type as _InstanceType));
  }
  const filtered = applyFilters(types, input.Filters, {
    "instance-type": (t) => t.type,
    "vcpu-info.default-vcpus": (t) => String(t.vcpus),
    "memory-info.size-in-mib": (t) => String(t.memoryMiB),
    "current-generation": () => "true",
    "supported-usage-class": () => ["on-demand", "spot"],
    "processor-info.supported-architecture": () => "x86_64",
  });
  const { page, NextToken } = paginate(filtered, input, [input.InstanceTypes, input.Filters], { min: 5, max: 100 });
  return { InstanceTypes: page.map(typeInfo), NextToken };
}

function describeSpotPriceHistory(w: World, input: DescribeSpotPriceHistoryRequest): DescribeSpotPriceHistoryResult {
  const start = input.StartTime?.getTime() ?? Number.NEGATIVE_INFINITY;
  const end = input.EndTime?.getTime() ?? w.clock.now();
  const products = input.ProductDescriptions ?? [];
  if (products.some((p) => !p.startsWith("Linux/UNIX"))) return { SpotPriceHistory: [] };
  // A price point is in range if it was in force at some moment of [start, end]: the last one before start counts.
  const points = w.market.priceHistory();
  const inRange = points.filter((p) => {
    if (p.time > end) return false;
    if (p.time >= start) return true;
    const later = points.filter((q) => q.type === p.type && q.zone === p.zone && q.time > p.time && q.time <= start);
    return later.length === 0;
  });
  let rows = inRange.filter(
    (p) =>
      (!input.InstanceTypes?.length || input.InstanceTypes.includes(p.type as _InstanceType)) &&
      (!input.AvailabilityZone || input.AvailabilityZone === p.zone),
  );
  rows = applyFilters(rows, input.Filters, {
    "instance-type": (p) => p.type,
    "availability-zone": (p) => p.zone,
    "product-description": () => ["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
    "spot-price": (p) => p.price.toFixed(6),
    timestamp: (p) => new Date(p.time).toISOString(),
  });
  rows.sort((a, b) => b.time - a.time || a.type.localeCompare(b.type) || a.zone.localeCompare(b.zone));
  const { page, NextToken } = paginate(rows, input, [input.InstanceTypes, input.Filters, input.AvailabilityZone], {
    min: 1,
    max: 1000,
  });
  return {
    SpotPriceHistory: page.map((p) => ({
      AvailabilityZone: p.zone,
      InstanceType: p.type as _InstanceType,
      ProductDescription: "Linux/UNIX",
      SpotPrice: p.price.toFixed(6),
      Timestamp: new Date(p.time),
    })),
    NextToken,
  };
}

/** The one region the sim is; a user's tooling calls this first. AllRegions changes nothing: there are no others. */
function describeRegions(w: World, input: DescribeRegionsRequest): DescribeRegionsResult {
  const region = { name: w.geo.region, endpoint: `ec2.${w.geo.region}.amazonaws.com`, optIn: "opt-in-not-required" };
  const chosen = input.RegionNames?.length ? input.RegionNames.filter((n) => n === region.name) : [region.name];
  const unknown = input.RegionNames?.find((n) => n !== region.name);
  if (unknown) throw new Ec2Error("InvalidParameterValue", `Invalid region: ${unknown} (the sim serves ${region.name} only)`);
  const filtered = applyFilters(chosen.length ? [region] : [], input.Filters, {
    "region-name": (r) => r.name,
    endpoint: (r) => r.endpoint,
    "opt-in-status": (r) => r.optIn,
  });
  return { Regions: filtered.map((r) => ({ RegionName: r.name, Endpoint: r.endpoint, OptInStatus: r.optIn })) };
}

export const marketOperations: Record<string, Ec2Operation> = {
  DescribeRegions: op(DescribeRegions$, describeRegions),
  DescribeInstanceTypes: op(DescribeInstanceTypes$, describeInstanceTypes),
  DescribeSpotPriceHistory: op(DescribeSpotPriceHistory$, describeSpotPriceHistory),
  DescribeAvailabilityZones: op<DescribeAvailabilityZonesRequest, DescribeAvailabilityZonesResult>(
    DescribeAvailabilityZones$,
    (w, input) => {
      const zones = w.geo.zones.map((z, i) => ({ name: z, id: `${w.geo.region.replace(/-(\w)\w*-/, "$1")}-az${i + 1}` }));
      const chosen = zones.filter((z) => !input.ZoneNames?.length || input.ZoneNames.includes(z.name));
      const filtered = applyFilters(chosen, input.Filters, {
        "zone-name": (z) => z.name,
        "zone-id": (z) => z.id,
        state: () => "available",
        "region-name": () => w.geo.region,
      });
      return {
        AvailabilityZones: filtered.map((z) => ({
          ZoneName: z.name,
          ZoneId: z.id,
          State: "available",
          RegionName: w.geo.region,
          ZoneType: "availability-zone",
          OptInStatus: "opt-in-not-required",
          Messages: [],
        })),
      };
    },
  ),
  DescribeSubnets: op<DescribeSubnetsRequest, DescribeSubnetsResult>(DescribeSubnets$, (w, input) => {
    // Any well-formed subnet id exists in the sim (its zone is derived from it), so specs written for AWS still work.
    const requested = input.SubnetIds?.length
      ? input.SubnetIds.map((id) => {
          if (!SUBNET_ID.test(id)) throw new Ec2Error("InvalidSubnetID.Malformed", `Invalid subnet ID: ${id}`);
          const zone = zoneOfSubnet(w.geo, id);
          if (!zone) throw new Ec2Error("InvalidSubnetID.NotFound", `The subnet ID '${id}' does not exist`);
          return w.geo.subnets.find((s) => s.subnetId === id) ?? { subnetId: id, zone, cidr: "10.0.240.0/20" };
        })
      : w.geo.subnets;
    const filtered = applyFilters(requested, input.Filters, {
      "subnet-id": (s) => s.subnetId,
      "availability-zone": (s) => s.zone,
      "vpc-id": () => "vpc-0sim000000000000",
      state: () => "available",
    });
    const { page, NextToken } = paginate(filtered, input, [input.SubnetIds, input.Filters], { min: 5, max: 1000 });
    return {
      Subnets: page.map((s) => ({
        SubnetId: s.subnetId,
        AvailabilityZone: s.zone,
        CidrBlock: s.cidr,
        VpcId: "vpc-0sim000000000000",
        State: "available",
        AvailableIpAddressCount: 4091,
        DefaultForAz: false,
        MapPublicIpOnLaunch: false,
      })),
      NextToken,
    };
  }),
};
