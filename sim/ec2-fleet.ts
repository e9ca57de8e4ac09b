import {
  type _InstanceType,
  CreateFleet$,
  type CreateFleetError,
  type CreateFleetInstance,
  type CreateFleetRequest,
  type CreateFleetResult,
  type FleetLaunchTemplateOverridesRequest,
  type LaunchTemplateAndOverridesResponse,
  type Reservation,
  RunInstances$,
  type RunInstancesRequest,
  type TargetCapacitySpecificationRequest,
} from "@aws-sdk/client-ec2";
import { instanceTypeInfo, subnetInZone, zoneOfSubnet } from "./catalogue.ts";
import { type Ec2Operation, op, tagsFor } from "./ec2-common.ts";
import { Ec2Error, invalidValue, missing } from "./ec2-errors.ts";
import { sdkInstance } from "./ec2-instances.ts";
import { launchRole } from "./iam/ec2-actions.ts";
import { profileArn } from "./iam/identities.ts";
import { newId, type SimInstance } from "./instances.ts";
import type { Market } from "./market.ts";
import { checkUserData } from "./templates.ts";
import type { World } from "./world.ts";

/**
 * Launching: CreateFleet (type instant) and RunInstances. A fleet request becomes a list of candidate pools
 * (type x zone from the launch template configs and their overrides); each market's share of the target capacity is
 * filled pool by pool in the order the allocation strategy implies, and every pool that could not deliver is reported
 * in Errors[] with InsufficientInstanceCapacity, as a real instant fleet reports it.
 */
interface Candidate {
  ltId: string;
  ltVersion: number;
  ltName: string;
  overrides: FleetLaunchTemplateOverridesRequest;
  type: string;
  zone: string;
  subnetId: string;
  maxPrice?: number;
  priority: number;
  order: number;
  imageId: string;
  userData?: string;
  keyName?: string;
  templateTags: Record<string, string>;
  /** The instance profile's role, and the profile's ARN. */
  role?: string;
  profile?: string;
}

const DEFAULT_IMAGE = "ami-0a1b2c3d4e5f60718";
const tagRecord = (tags: { Key?: string; Value?: string }[]) => Object.fromEntries(tags.map((t) => [t.Key ?? "", t.Value ?? ""]));

function price(w: World, market: Market, c: Candidate): number {
  return (market === "spot" ? w.market.spotPrice(c.type, c.zone) : w.market.onDemandPrice(c.type)) ?? Infinity;
}

function remaining(w: World, market: Market, type: string, zone: string): number {
  const live = w.instances.live().filter((i) => i.lifecycle === market && i.type === type && i.zone === zone).length;
  return Math.max(0, w.market.capacityOf(market, type, zone) - live);
}

/** Pool order for a market's allocation strategy; ties keep the request's order. */
function order(w: World, market: Market, strategy: string | undefined, cands: Candidate[]): Candidate[] {
  const byPrice = (a: Candidate, b: Candidate) => price(w, market, a) - price(w, market, b) || a.order - b.order;
  const byCapacity = (a: Candidate, b: Candidate) => remaining(w, market, b.type, b.zone) - remaining(w, market, a.type, a.zone) || 0;
  const byPriority = (a: Candidate, b: Candidate) => a.priority - b.priority || a.order - b.order;
  const s = strategy ?? "lowest-price";
  if (s === "prioritized") return [...cands].sort(byPriority);
  if (s === "capacity-optimized") return [...cands].sort((a, b) => byCapacity(a, b) || a.order - b.order);
  if (s === "capacity-optimized-prioritized") return [...cands].sort((a, b) => byCapacity(a, b) || byPriority(a, b));
  if (s === "price-capacity-optimized") return [...cands].sort((a, b) => byCapacity(a, b) || byPrice(a, b));
  return [...cands].sort(byPrice);
}

function launchOne(w: World, c: Candidate, market: Market, reservationId: string, extraTags: Record<string, string>) {
  return w.instances.launch({
    type: c.type,
    zone: c.zone,
    subnetId: c.subnetId,
    lifecycle: market,
    imageId: c.imageId,
    reservationId,
    userData: c.userData,
    keyName: c.keyName,
    role: c.role,
    instanceProfileArn: c.profile,
    tags: { ...c.templateTags, ...extraTags },
    launchTemplate: { id: c.ltId, name: c.ltName, version: c.ltVersion },
  });
}

function overridesResponse(c: Candidate): LaunchTemplateAndOverridesResponse {
  return {
    LaunchTemplateSpecification: { LaunchTemplateId: c.ltId, Version: String(c.ltVersion) },
    Overrides: {
      InstanceType: c.type as _InstanceType,
      SubnetId: c.overrides.SubnetId,
      AvailabilityZone: c.overrides.AvailabilityZone ?? (c.overrides.SubnetId ? undefined : c.zone),
      MaxPrice: c.overrides.MaxPrice,
      Priority: c.overrides.Priority,
    },
  };
}

function candidates(w: World, input: CreateFleetRequest, errors: CreateFleetError[]): Candidate[] {
  const out: Candidate[] = [];
  for (const [i, cfg] of (input.LaunchTemplateConfigs ?? []).entries()) {
    const spec = cfg.LaunchTemplateSpecification;
    if (!spec) throw missing(`LaunchTemplateConfigs.${i + 1}.LaunchTemplateSpecification`);
    if (!spec.Version) throw missing(`LaunchTemplateConfigs.${i + 1}.LaunchTemplateSpecification.Version`);
    const { template, version } = w.templates.resolve(spec);
    const data = version.data;
    const templateTags = tagRecord(tagsFor(data.TagSpecifications, "instance"));
    const role = launchRole(w, data.IamInstanceProfile);
    const profile = role ? (data.IamInstanceProfile?.Arn ?? profileArn(role)) : undefined;
    for (const o of cfg.Overrides?.length ? cfg.Overrides : [{}]) {
      const type = o.InstanceType ?? data.InstanceType;
      const zone =
        (o.SubnetId ? zoneOfSubnet(w.geo, o.SubnetId) : undefined) ??
        o.AvailabilityZone ??
        data.Placement?.AvailabilityZone ??
        (data.NetworkInterfaces?.[0]?.SubnetId ? zoneOfSubnet(w.geo, data.NetworkInterfaces[0].SubnetId) : undefined) ??
        w.geo.zones[0] ??
        "";
      const cand: Candidate = {
        ltId: template.id,
        ltName: template.name,
        ltVersion: version.number,
        overrides: o,
        type: type ?? "",
        zone,
        subnetId: o.SubnetId ?? data.NetworkInterfaces?.[0]?.SubnetId ?? subnetInZone(w.geo, zone),
        maxPrice: o.MaxPrice !== undefined ? Number(o.MaxPrice) : undefined,
        priority: o.Priority ?? Number.MAX_SAFE_INTEGER,
        order: out.length,
        imageId: o.ImageId ?? data.ImageId ?? DEFAULT_IMAGE,
        userData: data.UserData,
        keyName: data.KeyName,
        templateTags,
        role,
        profile,
      };
      const problem = overrideProblem(w, { type, zone, subnetId: o.SubnetId ?? data.NetworkInterfaces?.[0]?.SubnetId });
      if (problem) {
        for (const lifecycle of ["spot", "on-demand"] as const) {
          errors.push({
            LaunchTemplateAndOverrides: overridesResponse(cand),
            Lifecycle: lifecycle,
            ErrorCode: problem.code,
            ErrorMessage: problem.message,
          });
        }
        continue;
      }
      out.push(cand);
    }
  }
  return out;
}

/** What makes one override unlaunchable (reported in Errors[] by a real call, and raised by a DryRun). */
function overrideProblem(
  w: World,
  o: { type: string | undefined; zone: string; subnetId: string | undefined },
): { code: string; message: string } | undefined {
  const invalid = (message: string) => ({ code: "InvalidParameterValue", message });
  if (o.subnetId && !zoneOfSubnet(w.geo, o.subnetId)) {
    return { code: "InvalidSubnetID.NotFound", message: `The subnet ID '${o.subnetId}' does not exist` };
  }
  if (!o.type) return invalid("No instance type in the override or the launch template.");
  if (!instanceTypeInfo(o.type)) return invalid(`The instance type '${o.type}' is not supported by this market.`);
  if (!w.geo.zones.includes(o.zone)) return invalid(`Invalid availability zone: [${o.zone}]`);
  return undefined;
}

function capacityMessage(market: Market, c: Candidate): string {
  return market === "spot"
    ? "There is no Spot capacity available that matches your request."
    : `We currently do not have sufficient ${c.type} capacity in the Availability Zone you requested (${c.zone}).`;
}

/**
 * ClientTokens EC2 still remembers, per world: a repeated CreateFleet with the same token and the same request answers
 * what the first call answered (same fleet, same instances, nothing launched); with a different request it is
 * IdempotentParameterMismatch. EC2 keeps a token for at least 24 hours; so does the sim, on the world's clock.
 */
const fleetTokens = new WeakMap<World, Map<string, { request: string; result: CreateFleetResult; at: number }>>();
export const FLEET_TOKEN_LIFETIME_MS = 24 * 3600_000;

/** The request as compared for idempotency: everything but the token itself and DryRun. */
const requestKey = (input: CreateFleetRequest) => JSON.stringify({ ...input, ClientToken: undefined, DryRun: undefined });

export function createFleet(w: World, input: CreateFleetRequest): CreateFleetResult {
  const token = input.ClientToken;
  if (!token) return launchFleet(w, input);
  const tokens = fleetTokens.get(w) ?? new Map();
  fleetTokens.set(w, tokens);
  const now = w.clock.now();
  for (const [t, seen] of tokens) if (now - seen.at > FLEET_TOKEN_LIFETIME_MS) tokens.delete(t);
  const seen = tokens.get(token);
  if (seen) {
    if (seen.request !== requestKey(input)) {
      throw new Ec2Error("IdempotentParameterMismatch", `The client token '${token}' was already used with different parameters.`);
    }
    w.events.add("fleet-replayed", { fleetId: seen.result.FleetId, clientToken: token });
    return structuredClone(seen.result);
  }
  const result = launchFleet(w, input);
  tokens.set(token, { request: requestKey(input), result: structuredClone(result), at: now });
  return result;
}

/** The request checks a fleet passes before it launches anything (a DryRun stops after them). */
function fleetTargets(input: CreateFleetRequest): { onDemand: number; spot: number } {
  if (!input.LaunchTemplateConfigs?.length) throw missing("LaunchTemplateConfigs");
  const target = input.TargetCapacitySpecification;
  if (!target || target.TotalTargetCapacity === undefined) throw missing("TargetCapacitySpecification.TotalTargetCapacity");
  if ((input.Type ?? "maintain") !== "instant") {
    throw new Ec2Error("Unsupported", `Fleet type ${input.Type ?? "maintain"} is not supported by the sim; use instant.`);
  }
  return marketTargets(target, target.TotalTargetCapacity);
}

/**
 * CreateFleet with DryRun, once IAM allowed it: the same validation as the real call (templates resolve, the instance
 * profile's role exists, targets add up), and an override the real call would report in Errors[] as unlaunchable
 * (unknown subnet, type or zone) is raised as the call's error, so a preflight hears about it. Nothing is launched
 * and the ClientToken is not consumed.
 */
export function dryRunCreateFleet(w: World, input: CreateFleetRequest): void {
  fleetTargets(input);
  const errors: CreateFleetError[] = [];
  candidates(w, input, errors);
  const first = errors[0];
  if (first) throw new Ec2Error(first.ErrorCode ?? "InvalidParameterValue", first.ErrorMessage ?? "invalid override");
}

function launchFleet(w: World, input: CreateFleetRequest): CreateFleetResult {
  const { onDemand, spot } = fleetTargets(input);
  const errors: CreateFleetError[] = [];
  const fleet: FleetLaunch = {
    w,
    input,
    fleetId: `fleet-${crypto.randomUUID()}`,
    errors,
    cands: candidates(w, input, errors),
    requestTags: tagRecord(tagsFor(input.TagSpecifications, "instance")),
    groups: new Map(),
  };
  fillMarket(fleet, { market: "on-demand", wanted: onDemand, strategy: input.OnDemandOptions?.AllocationStrategy });
  fillMarket(fleet, { market: "spot", wanted: spot, strategy: input.SpotOptions?.AllocationStrategy });

  const instances: CreateFleetInstance[] = [...fleet.groups.values()].map((g) => ({
    LaunchTemplateAndOverrides: overridesResponse(g.c),
    Lifecycle: g.market,
    InstanceIds: g.ids,
    InstanceType: g.c.type as _InstanceType,
  }));
  w.events.add("fleet-created", {
    fleetId: fleet.fleetId,
    requested: { spot, onDemand },
    launched: instances.flatMap((i) => i.InstanceIds ?? []),
    errors: errors.map(
      (e) =>
        `${e.ErrorCode}:${e.LaunchTemplateAndOverrides?.Overrides?.InstanceType}/${e.LaunchTemplateAndOverrides?.Overrides?.AvailabilityZone ?? e.LaunchTemplateAndOverrides?.Overrides?.SubnetId}`,
    ),
  });
  return { FleetId: fleet.fleetId, Errors: errors, Instances: instances };
}

/** Each market's share of the target capacity: the explicit shares, and the rest to the default market. */
function marketTargets(target: TargetCapacitySpecificationRequest, total: number): { onDemand: number; spot: number } {
  const defaultType = target.DefaultTargetCapacityType ?? "on-demand";
  if (defaultType !== "spot" && defaultType !== "on-demand") {
    throw invalidValue("TargetCapacitySpecification.DefaultTargetCapacityType", defaultType, "Expected spot or on-demand.");
  }
  const onDemand = target.OnDemandTargetCapacity ?? (defaultType === "on-demand" ? total - (target.SpotTargetCapacity ?? 0) : 0);
  const spot = target.SpotTargetCapacity ?? total - onDemand;
  if (total < 0 || onDemand < 0 || spot < 0 || onDemand + spot > total) {
    throw invalidValue("TargetCapacitySpecification", total, "On-Demand and Spot capacities must add up to at most the total.");
  }
  return { onDemand, spot };
}

/** One CreateFleet call while it launches: what both markets fill from and what they add to. */
interface FleetLaunch {
  w: World;
  input: CreateFleetRequest;
  fleetId: string;
  cands: Candidate[];
  requestTags: Record<string, string>;
  errors: CreateFleetError[];
  /** One group per (override, market), as EC2 answers: a fleet that fills both markets from one override lists it twice. */
  groups: Map<string, { c: Candidate; market: Market; ids: string[] }>;
}

/** Launches up to `wanted` instances of one market, pool by pool in its strategy's order, reporting each pool that falls short. */
function fillMarket(fleet: FleetLaunch, share: { market: Market; wanted: number; strategy: string | undefined }): void {
  const { w, input, cands, errors, groups } = fleet;
  const { market } = share;
  const keyOf = (c: Candidate) => `${cands.indexOf(c)}|${market}`;
  let needed = share.wanted;
  for (const c of order(w, market, share.strategy, cands)) {
    if (needed <= 0) break;
    const p = price(w, market, c);
    const maxPrice = c.maxPrice ?? (market === "spot" ? Number(input.SpotOptions?.MaxTotalPrice ?? Infinity) : Infinity);
    if (market === "spot" && p > maxPrice) {
      errors.push({
        LaunchTemplateAndOverrides: overridesResponse(c),
        Lifecycle: "spot",
        ErrorCode: "SpotMaxPriceTooLow",
        ErrorMessage: `Your Spot request price of ${maxPrice} is lower than the minimum required Spot request fulfillment price of ${p}.`,
      });
      continue;
    }
    const n = Math.min(needed, remaining(w, market, c.type, c.zone));
    if (n < needed) {
      errors.push({
        LaunchTemplateAndOverrides: overridesResponse(c),
        Lifecycle: market,
        ErrorCode: "InsufficientInstanceCapacity",
        ErrorMessage: capacityMessage(market, c),
      });
    }
    if (n === 0) continue;
    const reservationId = newId("r");
    const tags = {
      ...fleet.requestTags,
      "aws:ec2:fleet-id": fleet.fleetId,
      "aws:ec2launchtemplate:id": c.ltId,
      "aws:ec2launchtemplate:version": String(c.ltVersion),
    };
    const group = groups.get(keyOf(c)) ?? { c, market, ids: [] };
    for (let k = 0; k < n; k++) group.ids.push(launchOne(w, c, market, reservationId, tags).id);
    groups.set(keyOf(c), group);
    needed -= n;
  }
}

/** RunInstances' request checks, before capacity: what a DryRun validates too. */
function runInstancesPlan(w: World, input: RunInstancesRequest) {
  if (input.MinCount === undefined) throw missing("MinCount");
  if (input.MaxCount === undefined) throw missing("MaxCount");
  if (input.MinCount < 1 || input.MaxCount < input.MinCount) {
    throw invalidValue("MinCount", input.MinCount, "MinCount must be at least 1 and at most MaxCount.");
  }
  const lt = input.LaunchTemplate ? w.templates.resolve(input.LaunchTemplate) : undefined;
  const data = lt?.version.data ?? {};
  const imageId = input.ImageId ?? data.ImageId;
  if (!imageId) throw missing("ImageId");
  const type = input.InstanceType ?? data.InstanceType;
  if (!type || !instanceTypeInfo(type)) {
    throw invalidValue("InstanceType", type ?? "(none)", "The sim's market offers only the types DescribeInstanceTypes lists.");
  }
  const subnetId = input.SubnetId ?? data.NetworkInterfaces?.[0]?.SubnetId;
  const zone =
    (subnetId ? zoneOfSubnet(w.geo, subnetId) : undefined) ??
    input.Placement?.AvailabilityZone ??
    data.Placement?.AvailabilityZone ??
    w.geo.zones[0] ??
    "";
  if (subnetId && !zoneOfSubnet(w.geo, subnetId)) {
    throw new Ec2Error("InvalidSubnetID.NotFound", `The subnet ID '${subnetId}' does not exist`);
  }
  if (!w.geo.zones.includes(zone)) throw invalidValue("AvailabilityZone", zone, "No such availability zone.");
  const marketType = input.InstanceMarketOptions?.MarketType ?? data.InstanceMarketOptions?.MarketType;
  const market: Market = marketType === "spot" ? "spot" : "on-demand";
  const userData = input.UserData ?? data.UserData;
  checkUserData(userData, "UserData");
  const profile = input.IamInstanceProfile ?? data.IamInstanceProfile;
  const role = launchRole(w, profile);
  if (market === "spot") {
    const max = input.InstanceMarketOptions?.SpotOptions?.MaxPrice ?? data.InstanceMarketOptions?.SpotOptions?.MaxPrice;
    const p = w.market.spotPrice(type, zone) ?? Infinity;
    if (max !== undefined && Number(max) < p) {
      throw new Ec2Error(
        "SpotMaxPriceTooLow",
        `Your Spot request price of ${max} is lower than the minimum required Spot request fulfillment price of ${p}.`,
      );
    }
  }
  return { lt, data, imageId, type, subnetId, zone, market, userData, profile, role };
}

/** RunInstances with DryRun, once IAM allowed it: every request check of the real call, no capacity check, no launch. */
export function dryRunRunInstances(w: World, input: RunInstancesRequest): void {
  runInstancesPlan(w, input);
}

export function runInstances(w: World, input: RunInstancesRequest): Reservation {
  const { lt, data, imageId, type, subnetId, zone, market, userData, profile, role } = runInstancesPlan(w, input);
  const { MinCount = 1, MaxCount = 1 } = input;
  const free = remaining(w, market, type, zone);
  if (free < MinCount) {
    throw new Ec2Error(
      "InsufficientInstanceCapacity",
      `We currently do not have sufficient ${type} capacity in the Availability Zone you requested (${zone}).`,
      500,
    );
  }
  const tags = {
    ...tagRecord(tagsFor(data.TagSpecifications, "instance")),
    ...tagRecord(tagsFor(input.TagSpecifications, "instance")),
    ...(lt ? { "aws:ec2launchtemplate:id": lt.template.id, "aws:ec2launchtemplate:version": String(lt.version.number) } : {}),
  };
  const reservationId = newId("r");
  const launched: SimInstance[] = [];
  for (let k = 0; k < Math.min(MaxCount, free); k++) {
    launched.push(
      w.instances.launch({
        type,
        zone,
        subnetId: subnetId ?? subnetInZone(w.geo, zone),
        lifecycle: market,
        imageId,
        reservationId,
        userData,
        tags,
        keyName: input.KeyName ?? data.KeyName,
        role,
        instanceProfileArn: role ? (profile?.Arn ?? profileArn(role)) : undefined,
        launchTemplate: lt ? { id: lt.template.id, name: lt.template.name, version: lt.version.number } : undefined,
      }),
    );
  }
  return { ReservationId: reservationId, OwnerId: "000000000000", Groups: [], Instances: launched.map(sdkInstance) };
}

/** The request checks a DryRun call of each launch action runs after IAM and before answering DryRunOperation. */
export const fleetDryRuns: Record<string, (w: World, input: Record<string, unknown>) => void> = {
  CreateFleet: (w, input) => dryRunCreateFleet(w, input as unknown as CreateFleetRequest),
  RunInstances: (w, input) => dryRunRunInstances(w, input as unknown as RunInstancesRequest),
};

export const fleetOperations: Record<string, Ec2Operation> = {
  CreateFleet: op<CreateFleetRequest, CreateFleetResult>(CreateFleet$, createFleet),
  RunInstances: op<RunInstancesRequest, Reservation>(RunInstances$, runInstances),
};
