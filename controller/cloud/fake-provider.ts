import { createHash } from "node:crypto";
import type { Clock } from "../../lib/clock.ts";
import {
  type AllocationStrategy,
  type CloudInstance,
  type CloudProvider,
  capacityKey,
  type InstanceState,
  type LaunchError,
  type LaunchedInstance,
  type LaunchOverride,
  type LaunchRequest,
  type LaunchResult,
  type LaunchTemplateInput,
  type LaunchTemplateRef,
  type Market,
  SPOT_TERMINATION_REASON,
  type SpotPrice,
  TAG_EXPORT,
  TAG_GENERATION,
  TAG_POOL,
} from "./cloud-provider.ts";

/**
 * CloudProvider in process memory, one layer below the port: what EC2 would hold (launch templates and their
 * versions, instances and their states, the spot market's prices and capacity), driven by the injected clock, so
 * reconciler tests need neither EC2 nor sim/. It passes the same contract as Ec2Provider over the sim
 * (test/contract/cloud-provider.contract.ts). States are derived from timestamps when read, never from timers, so
 * a FakeClock step is all it takes for an instance to boot or finish shutting down.
 *
 * The port's methods are on FakeCloudProvider; what only a test may do (interrupt, kill, change the market) is on
 * `provider.controls`, so a reconciler handed the provider as a CloudProvider cannot reach it.
 */
export interface FakeCloudProviderOptions {
  clock: Clock;
  /** Subnet id -> availability zone; the zones of the market are these (plus any named in `spotPrices`). */
  subnets: Record<string, string>;
  /** Spot price (USD/h) by "type" (every zone) or "type|zone" (that zone; wins over the type's). No price, no spot. */
  spotPrices: Record<string, number>;
  /** On-demand price (USD/h) by type; a type with neither price is unknown to the market. */
  onDemandPrices?: Record<string, number>;
  /** Capacity shortages by capacityKey(market, type, zone): at most N live instances there (0: none); absent: unlimited. */
  capacity?: Record<string, number>;
  /** pending -> running after this long (default 5 s, the sim's default). */
  bootDelayMs?: number;
  /** shutting-down -> terminated after this long (default 3 s). */
  shutdownDelayMs?: number;
  /** Terminated instances stay visible this long, like EC2's hour of afterlife (default 1 h). */
  terminatedRetentionMs?: number;
}

const MARKETS: readonly Market[] = ["spot", "on-demand"];
const USER_SHUTDOWN = "Client.UserInitiatedShutdown";
const INTERNAL_ERROR = "Server.InternalError";

interface FakeInstance extends LaunchedInstance {
  launchedAt: number;
  tags: Record<string, string>;
  /** When it starts (or started) shutting down: a spot notice sets it in the future. */
  shutdownAt: number | null;
  reason: string | null;
}

type TemplateVersion = { number: number; digest: string; data: LaunchTemplateInput };
type FakeTemplate = { id: string; name: string; versions: TemplateVersion[] };
type Candidate = LaunchOverride & { zone: string; order: number };

const copyInput = (d: LaunchTemplateInput): LaunchTemplateInput => structuredClone(d);

/** The digest of what a template version holds, independent of key order (EC2 compares what it stores, not JSON). */
function templateDigest(d: LaunchTemplateInput): string {
  const canonical = {
    imageId: d.imageId,
    userData: d.userData,
    securityGroupIds: d.securityGroupIds?.length ? d.securityGroupIds : null,
    instanceProfileArn: d.instanceProfileArn ?? null,
    keyName: d.keyName ?? null,
    tags: Object.entries(d.tags ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  };
  return createHash("sha256").update(JSON.stringify(canonical)).digest("hex").slice(0, 32);
}

/** The state both faces share: the provider reads and launches, the controls move the market and the instances. */
class FakeWorld {
  readonly clock: Clock;
  readonly subnets: Map<string, string>;
  readonly onDemand: Record<string, number>;
  readonly capacity = new Map<string, number>();
  /** Price points per "type|zone", oldest first. */
  readonly prices = new Map<string, { price: number; at: number }[]>();
  readonly instances = new Map<string, FakeInstance>();
  readonly templates = new Map<string, FakeTemplate>();
  readonly bootMs: number;
  readonly shutdownMs: number;
  readonly retentionMs: number;
  private seq = 0;

  constructor(o: FakeCloudProviderOptions) {
    this.clock = o.clock;
    this.subnets = new Map(Object.entries(o.subnets));
    this.onDemand = { ...o.onDemandPrices };
    for (const [k, v] of Object.entries(o.capacity ?? {})) this.capacity.set(k, v);
    this.bootMs = o.bootDelayMs ?? 5_000;
    this.shutdownMs = o.shutdownDelayMs ?? 3_000;
    this.retentionMs = o.terminatedRetentionMs ?? 3_600_000;
    this.seedPrices(o.spotPrices);
  }

  private seedPrices(spot: Record<string, number>): void {
    const zones = new Set([...this.subnets.values(), ...Object.keys(spot).flatMap((k) => k.split("|").slice(1))]);
    const at = this.clock.now();
    // Per-type prices first, so a per-zone entry overwrites its zone whatever the key order.
    const entries = Object.entries(spot).sort(([a], [b]) => Number(a.includes("|")) - Number(b.includes("|")));
    for (const [key, price] of entries) {
      const [type = "", zone] = key.split("|");
      for (const z of zone ? [zone] : zones) this.prices.set(`${type}|${z}`, [{ price, at }]);
    }
  }

  nextId(prefix: string): string {
    return `${prefix}-${(++this.seq).toString(16).padStart(17, "0")}`;
  }

  spotPrice(type: string, zone: string): { price: number; at: number } | undefined {
    return this.prices.get(`${type}|${zone}`)?.at(-1);
  }

  knowsType(type: string): boolean {
    return type in this.onDemand || [...this.prices.keys()].some((k) => k.startsWith(`${type}|`));
  }

  stateOf(i: FakeInstance, now = this.clock.now()): InstanceState {
    if (i.shutdownAt !== null && i.shutdownAt <= now) return now - i.shutdownAt >= this.shutdownMs ? "terminated" : "shutting-down";
    return now - i.launchedAt >= this.bootMs ? "running" : "pending";
  }

  isLive(i: FakeInstance): boolean {
    const s = this.stateOf(i);
    return s === "pending" || s === "running";
  }

  /** Starts shutting an instance down now, unless it already is: the first reason stays, as on EC2. */
  shutDown(i: FakeInstance, reason: string, at = this.clock.now()): void {
    // A pending spot notice (shutdownAt in the future) is overtaken: the instance goes now, for this reason.
    if (!this.isLive(i)) return;
    i.shutdownAt = at;
    i.reason = reason;
  }

  remaining(market: Market, type: string, zone: string): number {
    const cap = this.capacity.get(capacityKey(market, type, zone)) ?? Number.POSITIVE_INFINITY;
    let live = 0;
    for (const i of this.instances.values()) {
      if (i.market === market && i.instanceType === type && i.zone === zone && this.isLive(i)) live++;
    }
    return Math.max(0, cap - live);
  }

  /** Forgets instances terminated longer ago than the retention (EC2 stops reporting them). */
  prune(): void {
    const now = this.clock.now();
    for (const [id, i] of this.instances) {
      if (this.stateOf(i, now) === "terminated" && now - (i.shutdownAt ?? now) - this.shutdownMs > this.retentionMs)
        this.instances.delete(id);
    }
  }
}

/** What a test does to the fake cloud that no reconciler can: the market's knobs and the instances' fates. */
export class FakeCloudControls {
  private readonly w: FakeWorld;

  constructor(world: FakeWorld) {
    this.w = world;
  }

  private live(id: string, doing: string): FakeInstance {
    const i = this.w.instances.get(id);
    if (!i) throw new Error(`${doing} ${id}: no such instance`);
    if (!this.w.isLive(i)) throw new Error(`${doing} ${id}: it is ${this.w.stateOf(i)}`);
    return i;
  }

  /** Spot interruption: shutting-down with Server.SpotInstanceTermination after `noticeMs` (default at once). */
  interrupt(instanceId: string, noticeMs = 0): { terminateAt: number } {
    const i = this.live(instanceId, "interrupting");
    if (i.market !== "spot") throw new Error(`interrupting ${instanceId}: it is an on-demand instance; use kill`);
    const at = this.w.clock.now() + noticeMs;
    if (i.shutdownAt === null) Object.assign(i, { shutdownAt: at, reason: SPOT_TERMINATION_REASON });
    return { terminateAt: i.shutdownAt ?? at };
  }

  /** The host disappears without notice (the spot reason for spot instances, as the sim reports it). */
  kill(instanceId: string): void {
    const i = this.live(instanceId, "killing");
    this.w.shutDown(i, i.market === "spot" ? SPOT_TERMINATION_REASON : INTERNAL_ERROR);
  }

  /** At most `available` live instances of (market, type, zone) from now on; undefined lifts the limit. */
  setCapacity(market: Market, instanceType: string, zone: string, available: number | undefined): void {
    const key = capacityKey(market, instanceType, zone);
    if (available === undefined) this.w.capacity.delete(key);
    else this.w.capacity.set(key, available);
  }

  /** A new spot price point at the clock's now. */
  setSpotPrice(instanceType: string, zone: string, price: number): void {
    const key = `${instanceType}|${zone}`;
    this.w.prices.set(key, [...(this.w.prices.get(key) ?? []), { price, at: this.w.clock.now() }]);
  }

  /** Every version of a template, oldest first (what a test may inspect and EC2's console would show). */
  templateVersions(name: string): { number: number; data: LaunchTemplateInput }[] {
    return (this.w.templates.get(name)?.versions ?? []).map((v) => ({ number: v.number, data: copyInput(v.data) }));
  }
}

/** CloudProvider over FakeWorld; see the module comment. */
export class FakeCloudProvider implements CloudProvider {
  private readonly w: FakeWorld;
  readonly controls: FakeCloudControls;

  constructor(options: FakeCloudProviderOptions) {
    this.w = new FakeWorld(options);
    this.controls = new FakeCloudControls(this.w);
  }

  async ensureLaunchTemplate(name: string, data: LaunchTemplateInput): Promise<LaunchTemplateRef> {
    const digest = templateDigest(data);
    let t = this.w.templates.get(name);
    if (!t) {
      t = { id: this.w.nextId("lt"), name, versions: [] };
      this.w.templates.set(name, t);
    }
    const latest = t.versions.at(-1);
    if (latest?.digest === digest) return { id: t.id, name, version: String(latest.number), created: false };
    const number = (latest?.number ?? 0) + 1;
    t.versions.push({ number, digest, data: copyInput(data) });
    return { id: t.id, name, version: String(number), created: true };
  }

  /** EC2's ClientToken memory: a repeated token answers the first call's result (see CloudProvider.launch). */
  private readonly tokens = new Map<string, { request: string; result: LaunchResult }>();

  async launch(req: LaunchRequest): Promise<LaunchResult> {
    if (!req.clientToken) return this.launchFleet(req);
    const request = JSON.stringify({ ...req, clientToken: undefined });
    const seen = this.tokens.get(req.clientToken);
    if (seen && seen.request !== request) {
      const cause = Object.assign(new Error(`The client token '${req.clientToken}' was already used with different parameters.`), {
        name: "IdempotentParameterMismatch",
      });
      throw new Error(`launching ${req.count} instances for pool ${req.pool} (generation ${req.generation})`, { cause });
    }
    if (seen) return structuredClone(seen.result);
    const result = await this.launchFleet(req);
    this.tokens.set(req.clientToken, { request, result: structuredClone(result) });
    return result;
  }

  private async launchFleet(req: LaunchRequest): Promise<LaunchResult> {
    if (req.count <= 0) return { instances: [], errors: [] };
    const version = this.resolveTemplate(req);
    const fleetId = `fleet-${this.w.nextId("f").slice(2)}`;
    const tags: Record<string, string> = {
      ...version.data.tags,
      ...req.tags,
      [TAG_POOL]: req.pool,
      [TAG_GENERATION]: String(req.generation),
      ...(req.exportId ? { [TAG_EXPORT]: req.exportId } : {}),
      "aws:ec2:fleet-id": fleetId,
      "aws:ec2launchtemplate:id": req.template.id,
      "aws:ec2launchtemplate:version": String(version.number),
    };
    const errors: LaunchError[] = [];
    const candidates = this.candidates(req.overrides, errors);
    const onDemand = Math.min(req.onDemandCount, req.count);
    const instances = [
      ...this.fill({ market: "on-demand", wanted: onDemand, strategy: "lowest-price", candidates, errors, tags }),
      ...this.fill({ market: "spot", wanted: req.count - onDemand, strategy: req.allocationStrategy, candidates, errors, tags }),
    ];
    return { instances, errors };
  }

  private resolveTemplate(req: LaunchRequest): TemplateVersion {
    const t = [...this.w.templates.values()].find((x) => x.id === req.template.id);
    const wanted = req.template.version === "$Latest" ? t?.versions.at(-1)?.number : Number(req.template.version);
    const v = t?.versions.find((x) => x.number === wanted);
    if (v) return v;
    const cause = new Error(
      t
        ? `InvalidLaunchTemplateId.VersionNotFound: no version ${req.template.version} of ${req.template.id}`
        : `InvalidLaunchTemplateId.NotFound: the launch template ${req.template.id} does not exist`,
    );
    throw new Error(`launching ${req.count} instances for pool ${req.pool} (generation ${req.generation})`, { cause });
  }

  /** Overrides the market can consider; the others are reported for both markets, as an instant fleet does. */
  private candidates(overrides: LaunchOverride[], errors: LaunchError[]): Candidate[] {
    const out: Candidate[] = [];
    for (const o of overrides) {
      const zone = this.w.subnets.get(o.subnetId);
      const problem: [string, string] | null = !zone
        ? ["InvalidSubnetID.NotFound", `The subnet ID '${o.subnetId}' does not exist`]
        : !this.w.knowsType(o.instanceType)
          ? ["InvalidParameterValue", `The instance type '${o.instanceType}' is not supported by this market.`]
          : null;
      if (zone && !problem) out.push({ ...o, zone, order: out.length });
      else for (const market of MARKETS) errors.push(launchError(market, { ...o, zone: zone ?? null }, ...(problem ?? ["", ""])));
    }
    return out;
  }

  private price(market: Market, c: Candidate): number {
    const p = market === "spot" ? this.w.spotPrice(c.instanceType, c.zone)?.price : this.w.onDemand[c.instanceType];
    return p ?? Number.POSITIVE_INFINITY;
  }

  /** Pool order for an allocation strategy, ties in request order (diversified is treated as lowest-price, as in sim/). */
  private order(market: Market, strategy: AllocationStrategy, cands: Candidate[]): Candidate[] {
    const byPrice = (a: Candidate, b: Candidate) => this.price(market, a) - this.price(market, b) || a.order - b.order;
    const room = (c: Candidate) => this.w.remaining(market, c.instanceType, c.zone);
    const byRoom = (a: Candidate, b: Candidate) => room(b) - room(a) || 0;
    if (strategy === "capacity-optimized") return [...cands].sort((a, b) => byRoom(a, b) || a.order - b.order);
    if (strategy === "price-capacity-optimized") return [...cands].sort((a, b) => byRoom(a, b) || byPrice(a, b));
    return [...cands].sort(byPrice);
  }

  /** Fills one market's share pool by pool; every pool that could not give all that was still needed is an error. */
  private fill(f: {
    market: Market;
    wanted: number;
    strategy: AllocationStrategy;
    candidates: Candidate[];
    errors: LaunchError[];
    tags: Record<string, string>;
  }): LaunchedInstance[] {
    const launched: LaunchedInstance[] = [];
    let needed = f.wanted;
    for (const c of needed > 0 ? this.order(f.market, f.strategy, f.candidates) : []) {
      if (needed <= 0) break;
      const refusal = this.refusal(f.market, c);
      if (refusal) {
        f.errors.push(refusal);
        continue;
      }
      const n = Math.min(needed, this.w.remaining(f.market, c.instanceType, c.zone));
      if (n < needed) f.errors.push(launchError(f.market, c, "InsufficientInstanceCapacity", capacityMessage(f.market, c)));
      for (let k = 0; k < n; k++) launched.push(this.start(f.market, c, f.tags));
      needed -= n;
    }
    return launched;
  }

  /** Why a spot pool will not even be tried: no spot market there, or a price above the override's cap. */
  private refusal(market: Market, c: Candidate): LaunchError | null {
    if (market !== "spot") return null;
    const p = this.w.spotPrice(c.instanceType, c.zone)?.price;
    if (p === undefined) return launchError(market, c, "InvalidParameterValue", `No spot market for ${c.instanceType} in ${c.zone}.`);
    if (c.maxPrice !== undefined && p > c.maxPrice) {
      const message = `Your Spot request price of ${c.maxPrice} is lower than the minimum required Spot request fulfillment price of ${p}.`;
      return launchError(market, c, "SpotMaxPriceTooLow", message);
    }
    return null;
  }

  private start(market: Market, c: Candidate, tags: Record<string, string>): LaunchedInstance {
    const launched = { instanceId: this.w.nextId("i"), instanceType: c.instanceType, subnetId: c.subnetId, zone: c.zone, market };
    const launchedAt = this.w.clock.now();
    this.w.instances.set(launched.instanceId, { ...launched, launchedAt, tags: { ...tags }, shutdownAt: null, reason: null });
    return launched;
  }

  async describePoolInstances(pool: string): Promise<CloudInstance[]> {
    this.w.prune();
    const now = this.w.clock.now();
    return [...this.w.instances.values()]
      .filter((i) => i.tags[TAG_POOL] === pool)
      .map((i) => {
        const state = this.w.stateOf(i, now);
        const stateReason = state === "pending" || state === "running" ? null : i.reason;
        const { instanceId, instanceType, zone, market, launchedAt } = i;
        return { instanceId, state, stateReason, instanceType, zone, market, launchedAt, tags: { ...i.tags } };
      });
  }

  async terminate(instanceIds: string[]): Promise<void> {
    for (const id of instanceIds) {
      const i = this.w.instances.get(id);
      if (i) this.w.shutDown(i, USER_SHUTDOWN);
    }
  }

  async spotPrices(instanceTypes: string[], zones?: string[]): Promise<SpotPrice[]> {
    const out: SpotPrice[] = [];
    for (const [key, points] of this.w.prices) {
      const [instanceType = "", zone = ""] = key.split("|");
      const last = points.at(-1);
      if (!last || !instanceTypes.includes(instanceType) || (zones && !zones.includes(zone))) continue;
      out.push({ instanceType, zone, price: last.price, at: last.at });
    }
    return out;
  }

  onDemandPrice(instanceType: string): number | null {
    return this.w.onDemand[instanceType] ?? null;
  }

  async zoneOfSubnet(subnetId: string): Promise<string> {
    const zone = this.w.subnets.get(subnetId);
    if (zone) return zone;
    throw new Error(`finding the zone of subnet ${subnetId}`, { cause: new Error(`InvalidSubnetID.NotFound: no subnet ${subnetId}`) });
  }
}

function launchError(
  market: Market,
  where: { instanceType: string; subnetId: string; zone: string | null },
  code: string,
  message: string,
): LaunchError {
  return { code, message, market, instanceType: where.instanceType, subnetId: where.subnetId, zone: where.zone };
}

function capacityMessage(market: Market, c: Candidate): string {
  return market === "spot"
    ? "There is no Spot capacity available that matches your request."
    : `We currently do not have sufficient ${c.instanceType} capacity in the Availability Zone you requested (${c.zone}).`;
}
