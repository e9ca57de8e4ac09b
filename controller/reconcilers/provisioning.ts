import type { NodeRecord, PoolRecord } from "../../config/records.ts";
import { isoAt } from "../../lib/clock.ts";
import { digest } from "../../lib/dynamo/keys.ts";
import {
  CAPACITY_ERROR_CODES,
  capacityKey,
  type LaunchOverride,
  type LaunchResult,
  type LaunchTemplateRef,
  type Market,
} from "../cloud/cloud-provider.ts";
import type { PoolChange } from "../store/fleet-store.ts";
import { forEachPool, isoMs, isServing, poolView, poolWork, type ReconcileContext, type ReconcileResult } from "./context.ts";
import { launchRecorded, repeatOpenLaunch } from "./launch-intents.ts";
import { changeNode, newNode, terminatedChange } from "./nodes.ts";

/**
 * Provisioning: keeps each pool at its desired size.
 * - Boot: LAUNCHING nodes become READY when the cloud reports them running; past bootTimeout they are terminated
 *   (and so replaced by this same pass).
 * - Desired size = ceil((pending + leased partitions of the pool's RUNNING exports) / partitionsPerNode) within
 *   [min, max]. Nodes being retired by rotation do not count, which is how a rotation gets its replacement first.
 * - Launch: one instant fleet per market over types x subnets, minus the (market, type, zone) pools that reported a
 *   capacity shortage within capacityErrorMemory; an on-demand base; spot falls back to on-demand once spot capacity
 *   could not be had for onDemandFallbackAfter.
 * - The launch template is re-rendered when the pool's spec or generation changed, or at half the presigned bundle
 *   URL's lifetime (refreshAt), so a booting node never fetches with an expired URL.
 */
export async function provisioning(ctx: ReconcileContext): Promise<ReconcileResult> {
  let next = 10_000;
  await forEachPool(ctx, "provisioning", async (pool) => {
    next = Math.min(next, await provisionPool(ctx, pool));
  });
  return { nextRunInMs: next };
}

async function provisionPool(ctx: ReconcileContext, initial: PoolRecord): Promise<number> {
  await adoptOpenLaunch(ctx, initial);
  const pool = trackPool(ctx, initial);
  const now = ctx.clock.now();
  const boot = await settleBoots(ctx, initial, now);
  const size = await resize(ctx, pool, now);

  const serving = boot.nodes.filter(isServing);
  const deficit = size.desired - serving.length;
  if (deficit <= 0) {
    // Lost nodes whose work went away need no replacement.
    if (boot.owed > 0) await ctx.fleet.addPoolCounters(pool.current.pool, { owedReplacements: -boot.owed });
    return boot.booting ? 2_000 : 10_000;
  }

  const mix = await marketMix(ctx, pool.current, { memory: size.memory, serving, deficit, now });
  if (mix.spot + mix.onDemand === 0) {
    if (!pool.current.spotShortSince) await pool.save({ spotShortSince: isoAt(ctx.clock) });
    ctx.log(`pool ${pool.current.pool}: ${deficit} nodes short, every spot pool is remembered short and no on-demand fallback yet`);
    return 5_000;
  }

  const template = await ensureTemplate(ctx, pool.current, pool.save);
  const tally = await launchNodes(ctx, pool.current, { template, launchedFor: size.work.activeExports[0] ?? null, mix, now });

  const after: PoolChange = {};
  if (Object.keys(tally.shortages).length) after.capacityErrors = { ...size.memory, ...tally.shortages };
  if (mix.spot > 0 && tally.launchedSpot === 0 && !pool.current.spotShortSince) after.spotShortSince = isoAt(ctx.clock);
  if (tally.launchedSpot > 0 && pool.current.spotShortSince) after.spotShortSince = null;
  if (Object.keys(after).length) await pool.save(after);
  // Launches pay off the replacements owed for lost nodes (interruptions, boot timeouts, rotations) first.
  const replaced = Math.min(tally.launched, boot.owed);
  if (replaced > 0) await ctx.fleet.addPoolCounters(pool.current.pool, { replacements: replaced, owedReplacements: -replaced });
  return tally.launched < deficit ? 5_000 : 2_000;
}

/** The pool record as this pass last saved it: each save is conditional on the version the previous one returned. */
interface TrackedPool {
  readonly current: PoolRecord;
  save(change: PoolChange): Promise<void>;
}

function trackPool(ctx: ReconcileContext, initial: PoolRecord): TrackedPool {
  let pool = initial;
  return {
    get current() {
      return pool;
    },
    save: async (change: PoolChange) => {
      const updated = await ctx.fleet.updatePool(pool.pool, pool.version, change);
      if (!updated) throw new Error(`pool ${pool.pool} changed under the controller; retrying on the next run`);
      pool = updated;
    },
  };
}

/**
 * Boot: LAUNCHING nodes the cloud reports running become READY; past bootTimeout they are terminated and owed a
 * replacement. Returns the nodes still on record, whether any is still booting, and the replacements owed.
 */
async function settleBoots(ctx: ReconcileContext, pool: PoolRecord, now: number) {
  const view = await poolView(ctx, pool);
  const nodes: NodeRecord[] = [];
  let booting = false;
  let owed = pool.owedReplacements;
  for (const node of view.nodes) {
    let n: NodeRecord | null = node;
    if (node.lifecycle === "LAUNCHING") {
      const inst = view.instances.get(node.instanceId);
      if (inst?.state === "running") {
        n = await changeNode(ctx, node, { lifecycle: "READY", readyAt: isoAt(ctx.clock) }, "instance is running");
      } else if (now - isoMs(node.launchedAt) > pool.spec.bootTimeout * 1000 && inst?.state !== "terminated") {
        await ctx.cloud.terminate([node.instanceId]);
        n = await changeNode(ctx, node, terminatedChange(ctx, `boot timeout: still ${inst?.state ?? "unknown"}`), "boot timeout");
        if (n) {
          await ctx.fleet.addPoolCounters(pool.pool, { owedReplacements: 1 });
          owed++;
        }
      } else booting = true;
    }
    if (n) nodes.push(n);
  }
  return { nodes, booting, owed };
}

/** The desired size from the pool's work, saved with the capacity shortages still remembered. */
async function resize(ctx: ReconcileContext, pool: TrackedPool, now: number) {
  const { pool: name, spec, capacityErrors, desiredSize, spotShortSince } = pool.current;
  const work = await poolWork(ctx, name);
  const units = work.pending.length + work.leased.length;
  const desired = Math.min(spec.capacity.max, Math.max(spec.capacity.min, Math.ceil(units / spec.capacity.partitionsPerNode)));
  // Capacity shortages are forgotten after capacityErrorMemory; expired entries are dropped when the pool is saved.
  const memory = Object.fromEntries(Object.entries(capacityErrors).filter(([, until]) => isoMs(until) > now));
  const change: PoolChange = {};
  if (desired !== desiredSize) change.desiredSize = desired;
  if (Object.keys(memory).length !== Object.keys(capacityErrors).length) change.capacityErrors = memory;
  // Once every remembered spot shortage has expired, spot gets another chance: an on-demand fallback is not for ever.
  const isSpot = (k: string) => k.startsWith("spot|");
  if (spotShortSince && Object.keys(capacityErrors).some(isSpot) && !Object.keys(memory).some(isSpot)) {
    change.spotShortSince = null;
  }
  if (Object.keys(change).length) await pool.save(change);
  return { work, desired, memory };
}

type Overrides = (LaunchOverride & { zone: string })[];
type MarketMix = Awaited<ReturnType<typeof marketMix>>;

/** How many of the `deficit` to ask of each market, and over which (type, subnet) pools. */
async function marketMix(
  ctx: ReconcileContext,
  pool: PoolRecord,
  need: { memory: Record<string, string>; serving: NodeRecord[]; deficit: number; now: number },
) {
  const { memory, serving, deficit, now } = need;
  const spec = pool.spec;
  const { spotOverrides, onDemandOverrides } = await launchOverrides(ctx, pool, memory);
  const fallbackAfter = spec.onDemandFallbackAfter;
  const shortSince = isoMs(pool.spotShortSince);
  const fallback = fallbackAfter !== undefined && !Number.isNaN(shortSince) && now - shortSince >= fallbackAfter * 1000;
  const onDemandServing = serving.filter((n) => n.market === "on-demand").length;
  let onDemand = Math.min(deficit, Math.max(0, spec.capacity.onDemandBase - onDemandServing));
  if (spec.purchase === "on-demand" || fallback) onDemand = deficit;
  const spot = spotOverrides.length ? deficit - onDemand : 0;
  return { spot, onDemand, spotOverrides, onDemandOverrides };
}

/** Every (type, subnet), by zone, minus the pools remembered short for that market. */
async function launchOverrides(ctx: ReconcileContext, pool: PoolRecord, memory: Record<string, string>) {
  const spec = pool.spec;
  const all: Overrides = [];
  for (const t of spec.instanceTypes) {
    const instanceType = typeof t === "string" ? t : t.type;
    for (const subnetId of spec.subnets) {
      all.push({ instanceType, subnetId, zone: await ctx.cloud.zoneOfSubnet(subnetId), maxPrice: spec.maxSpotPrice });
    }
  }
  const usable = (market: Market) => all.filter((o) => !memory[capacityKey(market, o.instanceType, o.zone)]);
  const spotOverrides = usable("spot");
  const onDemandOverrides = usable("on-demand").map(({ maxPrice: _m, ...o }) => o);
  return { spotOverrides, onDemandOverrides };
}

/** One pass's launches: what every request shares, and what they add up to. */
interface Launching {
  pool: PoolRecord;
  template: LaunchTemplateRef;
  launchedFor: string | null;
  /** Until when a capacity shortage reported now is remembered. */
  remember: string;
  tally: LaunchTally;
}

interface LaunchTally {
  launched: number;
  launchedSpot: number;
  /** Capacity shortages to remember, by capacityKey. */
  shortages: Record<string, string>;
}

type LaunchAsk = { market: Market; count: number; overrides: LaunchOverride[] };

/** One instant fleet per market (on-demand first), each instance recorded as a LAUNCHING node. */
async function launchNodes(
  ctx: ReconcileContext,
  pool: PoolRecord,
  plan: { template: LaunchTemplateRef; launchedFor: string | null; mix: MarketMix; now: number },
): Promise<LaunchTally> {
  const { mix } = plan;
  const requests: LaunchAsk[] = [
    { market: "on-demand" as const, count: mix.onDemandOverrides.length ? mix.onDemand : 0, overrides: mix.onDemandOverrides },
    { market: "spot" as const, count: mix.spot, overrides: mix.spotOverrides },
  ].filter((r) => r.count > 0);
  const l: Launching = {
    pool,
    template: plan.template,
    launchedFor: plan.launchedFor,
    remember: new Date(plan.now + ctx.settings.capacityErrorMemory * 1000).toISOString(),
    tally: { launched: 0, launchedSpot: 0, shortages: {} },
  };
  for (const r of requests) await launchOne(ctx, l, r);
  return l.tally;
}

async function launchOne(ctx: ReconcileContext, l: Launching, r: LaunchAsk): Promise<void> {
  const { pool, tally } = l;
  const { result, seq } = await launchRecorded(ctx, {
    pool: pool.pool,
    generation: pool.generation,
    exportId: l.launchedFor,
    template: l.template,
    overrides: r.overrides.map(({ instanceType, subnetId, maxPrice }) => ({ instanceType, subnetId, maxPrice })),
    count: r.count,
    onDemandCount: r.market === "on-demand" ? r.count : 0,
    allocationStrategy: pool.spec.allocationStrategy,
    tags: pool.spec.tags,
  });
  await recordNodes(ctx, pool, { result, launchedFor: l.launchedFor });
  await ctx.fleet.closeLaunch(pool.pool, seq);
  for (const i of result.instances) {
    tally.launched++;
    if (i.market === "spot") tally.launchedSpot++;
  }
  for (const e of result.errors) {
    if (!CAPACITY_ERROR_CODES.has(e.code) || !e.instanceType || !e.zone) {
      ctx.log(`pool ${pool.pool}: launch error ${e.code} (${e.instanceType ?? "?"} in ${e.zone ?? "?"}): ${e.message}`);
      continue;
    }
    tally.shortages[capacityKey(e.market, e.instanceType, e.zone)] = l.remember;
  }
  ctx.log(
    `pool ${pool.pool} gen ${pool.generation}: asked ${r.count} ${r.market}, got ${result.instances.length}` +
      (result.errors.length ? `; short: ${result.errors.map((e) => `${e.instanceType}@${e.zone} ${e.code}`).join(", ")}` : ""),
  );
}

/**
 * Records a launch's instances as LAUNCHING nodes. Should the controller die before this, the launch is still open
 * and its successor repeats it (launch-intents.ts) and records them; a node already recorded is left as it is.
 */
async function recordNodes(ctx: ReconcileContext, pool: PoolRecord, launch: { result: LaunchResult; launchedFor: string | null }) {
  const { instances } = launch.result;
  const prices = instances.some((i) => i.market === "spot") ? await spotPriceMap(ctx, pool) : new Map<string, number>();
  for (const i of instances) {
    const price = i.market === "spot" ? (prices.get(`${i.instanceType}|${i.zone}`) ?? 0) : (ctx.cloud.onDemandPrice(i.instanceType) ?? 0);
    await ctx.fleet.putNode(newNode(pool, i, price, isoAt(ctx.clock), launch.launchedFor));
  }
}

/** A launch a previous controller recorded but died before closing: repeated with its token, its instances adopted. */
async function adoptOpenLaunch(ctx: ReconcileContext, pool: PoolRecord): Promise<void> {
  const repeated = await repeatOpenLaunch(ctx, pool.pool);
  if (!repeated) return;
  await recordNodes(ctx, pool, { result: repeated.result, launchedFor: repeated.request.exportId ?? null });
  await ctx.fleet.closeLaunch(pool.pool, repeated.seq);
  ctx.log(`pool ${pool.pool}: adopted ${repeated.result.instances.length} instances of launch ${repeated.seq}`);
}

/** The launch template version to use, rendering a new one when the spec, generation or bundle URL needs it. */
async function ensureTemplate(ctx: ReconcileContext, pool: PoolRecord, save: (c: PoolChange) => Promise<void>) {
  const now = ctx.clock.now();
  const specDigest = digest(pool.spec).slice(0, 16);
  const t = pool.template;
  if (t && t.generation === pool.generation && t.specDigest === specDigest && now < isoMs(t.refreshAt)) {
    return { id: t.id, name: t.name, version: t.version, created: false };
  }
  const rendered = await ctx.templates.render(pool);
  const data = { ...rendered.data, tags: { ...pool.spec.tags, ...rendered.data.tags } };
  const ref = await ctx.cloud.ensureLaunchTemplate(`spotferry-${pool.pool}`, data);
  await save({
    template: {
      id: ref.id,
      name: ref.name,
      version: ref.version,
      generation: pool.generation,
      specDigest,
      renderedAt: new Date(now).toISOString(),
      refreshAt: new Date(Math.min(rendered.refreshAt, 8.64e15)).toISOString(),
    },
  });
  return ref;
}

async function spotPriceMap(ctx: ReconcileContext, pool: PoolRecord): Promise<Map<string, number>> {
  const types = pool.spec.instanceTypes.map((t) => (typeof t === "string" ? t : t.type));
  const prices = await ctx.cloud.spotPrices(types).catch(() => []);
  return new Map(prices.map((p) => [`${p.instanceType}|${p.zone}`, p.price]));
}
