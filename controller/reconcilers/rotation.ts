import type { PoolSpec } from "../../config/pool-spec.ts";
import type { NodeRecord, PoolRecord } from "../../config/records.ts";
import { isoAt } from "../../lib/clock.ts";
import { budgetOf, forEachPool, isLive, isoMs, poolNodes, type ReconcileContext, type ReconcileResult } from "./context.ts";
import { changeNode } from "./nodes.ts";

/**
 * Rotation: replaces nodes of an older generation (`spotferry rotate POOL` bumps it: blue/green) and nodes past
 * maxNodeAge (only inside the rotationWindow, when one is set), never disrupting more than the disruption budget.
 *
 * Per node, in three steps across runs:
 *  1. retire: the node is marked retiringAt. It keeps working, but provisioning no longer counts it, so its
 *     replacement (current generation) is launched first.
 *  2. drain: once the pool's other READY nodes cover the desired size again (or the replacement could not be had
 *     within bootTimeout), the node is marked DRAINING and its instance is terminated. Termination is the drain
 *     signal: it SIGTERMs the agent, which cuts its current chunk, commits it and releases its partitions (cursor
 *     kept), the same path as a spot notice, so no agent change and no polling was needed, and a node whose agent
 *     is wedged is still stopped. See draining.ts for the end of the drain.
 *  3. done: draining.ts marks it TERMINATED once it holds nothing and the instance is down.
 * Budget: nodes retiring plus nodes DRAINING for rotation (or scale-down) never exceed maxUnavailable.
 */
export async function rotation(ctx: ReconcileContext): Promise<ReconcileResult> {
  let next = 30_000;
  let marked = 0;
  await forEachPool(ctx, "rotation", async (pool) => {
    const now = ctx.clock.now();
    const nodes = await poolNodes(ctx, pool.pool);
    const retiring = nodes.filter((n) => isLive(n) && n.retiringAt !== null);
    const draining = nodes.filter((n) => n.lifecycle === "DRAINING");
    let inFlight = retiring.length + draining.length;
    const budget = budgetOf(pool);

    const due = nodes
      .filter((n) => n.lifecycle === "READY" && n.retiringAt === null)
      .map((n) => ({ n, why: rotationReason(pool, n, now) }))
      .filter((c): c is { n: NodeRecord; why: string } => c.why !== null)
      .sort((a, b) => a.n.generation - b.n.generation || isoMs(a.n.launchedAt) - isoMs(b.n.launchedAt));
    for (const { n, why } of due) {
      if (inFlight >= budget) break;
      const updated = await changeNode(ctx, n, { retiringAt: isoAt(ctx.clock), reason: `rotation: ${why}` }, `retiring (${why})`);
      if (updated) {
        await ctx.fleet.addPoolCounters(pool.pool, { owedReplacements: 1 });
        retiring.push(updated);
        inFlight++;
        marked++;
      }
    }
    if (due.length || retiring.length) next = Math.min(next, 5_000);

    // Drain retirees once their replacements are up.
    const covering = nodes.filter((n) => n.lifecycle === "READY" && n.retiringAt === null).length;
    for (const n of retiring) {
      const replaced = covering >= pool.desiredSize;
      const gaveUp = now - isoMs(n.retiringAt) > pool.spec.bootTimeout * 1000;
      if (!replaced && !gaveUp) continue;
      const current = (await ctx.fleet.getNode(n.pool, n.instanceId)) ?? n;
      if (current.lifecycle !== "READY") continue;
      await ctx.cloud.terminate([n.instanceId]);
      await changeNode(
        ctx,
        current,
        { lifecycle: "DRAINING", drainingAt: isoAt(ctx.clock) },
        replaced ? "replacement is up; draining" : "no replacement within bootTimeout; draining anyway",
      );
    }
  });
  if (marked) ctx.wake("provisioning");
  return { nextRunInMs: next };
}

/** Why a node is due for rotation now, or null. */
function rotationReason(pool: PoolRecord, n: NodeRecord, now: number): string | null {
  if (n.generation < pool.generation) return `generation ${n.generation} < ${pool.generation}`;
  const maxAge = pool.spec.maxNodeAge;
  if (maxAge !== undefined && now - isoMs(n.launchedAt) >= maxAge * 1000 && inRotationWindow(pool.spec, now)) {
    return `older than maxNodeAge ${maxAge} s`;
  }
  return null;
}

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/** True when no window is set, or `now` is inside it (in the window's time zone; a window may wrap midnight). */
export function inRotationWindow(spec: PoolSpec, now: number): boolean {
  const w = spec.rotationWindow;
  if (!w) return true;
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: w.timezone,
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(now));
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
  const day = get("weekday").toLowerCase().slice(0, 3);
  const minutes = Number(get("hour")) * 60 + Number(get("minute"));
  const toMin = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  const [start, end] = [toMin(w.start), toMin(w.end)];
  const inside = start <= end ? minutes >= start && minutes < end : minutes >= start || minutes < end;
  // A window wrapping midnight belongs to the day it started on.
  const windowDay = start > end && minutes < end ? DAYS[(DAYS.indexOf(day) + 6) % 7] : day;
  return inside && (!w.days || w.days.includes(windowDay as (typeof w.days)[number]));
}
