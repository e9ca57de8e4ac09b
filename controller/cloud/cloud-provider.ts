/**
 * CloudProvider: the controller's only view of the compute cloud. The EC2 implementation is ec2-provider.ts; the
 * sim/ spot market speaks the same EC2 API, so tests run the real implementation against it.
 *
 * Contract common to every method: infrastructure failures (network, throttling after the SDK's retries, auth) throw
 * an Error wrapped with what was being done. Expected outcomes of a market (no capacity for a type in a zone, a spot
 * price above the cap) are data in the result, never exceptions, because the caller's reaction (remember the pool,
 * try others, fall back to on-demand) is part of normal operation.
 */
export interface CloudProvider {
  /**
   * Makes sure a launch template named `name` exists whose latest version holds `data`, and returns the version to
   * launch from. Idempotent: when the latest version already holds the same data (compared by digest) no version is
   * created. A new version (not a new template) is created when the data changed, e.g. a re-rendered user-data with
   * a fresh presigned bundle URL.
   */
  ensureLaunchTemplate(name: string, data: LaunchTemplateInput): Promise<LaunchTemplateRef>;

  /**
   * Launches up to `count` instances with one instant fleet (EC2 CreateFleet type "instant") from the template, over
   * every override (instance type x subnet), `onDemandCount` of them on-demand and the rest in `market`. Every
   * instance is tagged spotferry:pool, spotferry:generation and (when given) spotferry:export at launch, so nothing it
   * starts can be orphaned untagged. Idempotent only with a `clientToken` (EC2's ClientToken): a repeat with the same
   * token and the same request answers what the first call answered, launching nothing (EC2 keeps a token for at
   * least 24 hours), and the same token with a different request throws (IdempotentParameterMismatch in the cause).
   * Without one, a retry after a lost answer may launch twice and only the tags (garbage collection) find the
   * extras. Pools that fell short are listed in `errors`.
   */
  launch(request: LaunchRequest): Promise<LaunchResult>;

  /**
   * Every instance tagged spotferry:pool=`pool` in any state EC2 still reports (terminated ones stay visible for
   * about an hour), across all pages. Consistency is eventual: a just-launched instance may be missing for a while.
   */
  describePoolInstances(pool: string): Promise<CloudInstance[]>;

  /**
   * Terminates the instances (SIGTERM to the node's processes first, then power off). Idempotent: instances already
   * shutting down, terminated or no longer known are skipped silently.
   */
  terminate(instanceIds: string[]): Promise<void>;

  /** Latest spot price per (type, zone) for the given types (all zones when `zones` is omitted), USD per hour. */
  spotPrices(instanceTypes: string[], zones?: string[]): Promise<SpotPrice[]>;

  /** On-demand price of a type in USD per hour, or null when the provider does not know it. */
  onDemandPrice(instanceType: string): number | null;

  /** Availability zone of a subnet (cached after the first lookup); throws for an unknown subnet. */
  zoneOfSubnet(subnetId: string): Promise<string>;
}

export type Market = "spot" | "on-demand";

export type AllocationStrategy = "price-capacity-optimized" | "capacity-optimized" | "lowest-price" | "diversified";

/** What a pool's launch template holds; user-data is the plain shell script (the provider base64-encodes it). */
export interface LaunchTemplateInput {
  imageId: string;
  userData: string;
  securityGroupIds?: string[];
  instanceProfileArn?: string;
  keyName?: string;
  /** Tags applied to every instance launched from the template (the launch request adds pool/generation/export). */
  tags?: Record<string, string>;
}

export interface LaunchTemplateRef {
  id: string;
  name: string;
  /** Version number as a string, as EC2 takes it in a launch specification. */
  version: string;
  /** False when the latest version already matched and nothing was written. */
  created: boolean;
}

export interface LaunchOverride {
  instanceType: string;
  subnetId: string;
  /** Spot price cap, USD per hour. */
  maxPrice?: number;
  /** Priority for on-demand "prioritized" allocation: lower is tried first. */
  priority?: number;
}

export interface LaunchRequest {
  pool: string;
  generation: number;
  exportId?: string | null;
  template: LaunchTemplateRef;
  overrides: LaunchOverride[];
  count: number;
  /** How many of `count` must be on-demand (on-demand base or fallback); the rest are spot. */
  onDemandCount: number;
  allocationStrategy: AllocationStrategy;
  /** Extra instance tags (the pool spec's tags). */
  tags?: Record<string, string>;
  /**
   * EC2 ClientToken (at most 64 ASCII characters). Provisioning derives it from a launch it recorded before the call
   * (controller/reconcilers/launch-intents.ts), so a successor can repeat the call and adopt what it launched.
   */
  clientToken?: string;
}

export interface LaunchedInstance {
  instanceId: string;
  instanceType: string;
  subnetId: string;
  zone: string;
  market: Market;
}

/** One pool (type, subnet, market) that could not supply what was asked. */
export interface LaunchError {
  /** EC2 error code: InsufficientInstanceCapacity, SpotMaxPriceTooLow, InstanceLimitExceeded, ... */
  code: string;
  message: string;
  market: Market;
  instanceType: string | null;
  subnetId: string | null;
  zone: string | null;
}

export interface LaunchResult {
  instances: LaunchedInstance[];
  errors: LaunchError[];
}

export type InstanceState = "pending" | "running" | "shutting-down" | "terminated" | "stopping" | "stopped";

export interface CloudInstance {
  instanceId: string;
  state: InstanceState;
  /** EC2 StateReason code, e.g. Server.SpotInstanceTermination or Client.UserInitiatedShutdown. */
  stateReason: string | null;
  instanceType: string;
  zone: string;
  market: Market;
  launchedAt: number;
  tags: Record<string, string>;
}

export interface SpotPrice {
  instanceType: string;
  zone: string;
  price: number;
  at: number;
}

/** Error codes that mean "this (type, zone, market) has no capacity right now": remembered and avoided for a while. */
export const CAPACITY_ERROR_CODES = new Set([
  "InsufficientInstanceCapacity",
  "InsufficientCapacity",
  "SpotMaxPriceTooLow",
  "MaxSpotInstanceCountExceeded",
  "UnfulfillableCapacity",
]);

export const TAG_POOL = "spotferry:pool";
export const TAG_GENERATION = "spotferry:generation";
export const TAG_EXPORT = "spotferry:export";

/** True for states after which an instance never does work again. */
export const isGone = (state: InstanceState) => state === "shutting-down" || state === "terminated" || state === "stopped";

export const SPOT_TERMINATION_REASON = "Server.SpotInstanceTermination";

/** Key of a capacity pool in the controller's memory of shortages. */
export const capacityKey = (market: Market, instanceType: string, zone: string) => `${market}|${instanceType}|${zone}`;
