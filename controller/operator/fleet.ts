import { type PoolSpec, poolSpec } from "../../config/pool-spec.ts";
import type { NodeRecord } from "../../config/records.ts";
import { type Clock, isoAt } from "../../lib/clock.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import type { CloudProvider } from "../cloud/cloud-provider.ts";
import { findNode } from "../oncall/reads.ts";
import type { FleetStore } from "../store/fleet-store.ts";
import { ActionRefused, notFound } from "./refusal.ts";

/** Operator actions on the fleet, as plan/apply pairs like those in jobs.ts (`rotate` is the controller's). */

export interface DrainPlan {
  node: NodeRecord;
  description: string;
}

/** Drain a LAUNCHING or READY node: its agent commits its chunk and releases, the controller replaces it. */
export async function planDrain(fleet: FleetStore, opts: { instanceId: string; pool?: string }): Promise<DrainPlan> {
  const node = await findNode(fleet, opts.instanceId, opts.pool);
  if (!node) throw notFound(`node ${opts.instanceId}`);
  if (node.lifecycle !== "READY" && node.lifecycle !== "LAUNCHING") {
    throw new ActionRefused(`node ${node.instanceId} is ${node.lifecycle}; only a LAUNCHING or READY node can be drained`);
  }
  const working = node.currentPartition ? `, working on ${node.currentPartition}` : "";
  return {
    node,
    description: `drain node ${node.instanceId} (${node.instanceType}, pool ${node.pool}${working}): its agent commits the current chunk and releases, the instance is terminated and the controller launches a replacement if work remains`,
  };
}

export interface DrainResult {
  node: string;
  pool: string;
  lifecycle: "DRAINING";
  terminateRequested: boolean;
  /** Why termination was not requested, when it was not (the draining reconciler terminates the node later). */
  warning?: string;
}

/** Marks the node DRAINING, then asks the cloud to terminate it (a controller pass in between sees a drain). */
export async function applyDrain(
  deps: { fleet: FleetStore; cloud: Pick<CloudProvider, "terminate">; clock: Clock },
  plan: DrainPlan,
  opts: { by: string },
): Promise<DrainResult> {
  const { node } = plan;
  const marked = await deps.fleet.updateNode(node.pool, node.instanceId, node.version, {
    lifecycle: "DRAINING",
    drainingAt: isoAt(deps.clock),
    reason: `drained by ${opts.by}`,
  });
  if (!marked)
    throw new ActionRefused(
      `node ${node.instanceId} changed while this command ran; look again with \`spotferry node show ${node.instanceId}\``,
    );
  const result: DrainResult = { node: node.instanceId, pool: node.pool, lifecycle: "DRAINING", terminateRequested: true };
  try {
    await deps.cloud.terminate([node.instanceId]);
  } catch (err) {
    // The node is DRAINING either way; the draining reconciler terminates it once it holds nothing.
    result.terminateRequested = false;
    result.warning = `terminating ${node.instanceId} failed (${(err as Error).message}); the controller will terminate it`;
  }
  return result;
}

export interface ScalePlan {
  pool: string;
  version: number;
  spec: PoolSpec;
  description: string;
}

/** Change a pool's capacity bounds; the new spec is validated like `pool apply` would. */
export async function planScale(fleet: FleetStore, opts: { pool: string; min?: number; max?: number }): Promise<ScalePlan> {
  if (opts.min === undefined && opts.max === undefined) throw new UserError("give --min, --max or both", { exitCode: ExitCode.usage });
  const pool = await fleet.getPool(opts.pool);
  if (!pool) throw notFound(`pool ${opts.pool}`);
  const capacity = {
    ...pool.spec.capacity,
    ...(opts.min !== undefined ? { min: opts.min } : {}),
    ...(opts.max !== undefined ? { max: opts.max } : {}),
  };
  const parsed = poolSpec.safeParse({ ...pool.spec, capacity });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserError(`scale ${opts.pool}: ${issue?.path.join(".")}: ${issue?.message}`, { exitCode: ExitCode.usage });
  }
  const live = (await fleet.listNodes(opts.pool)).filter((n) => n.lifecycle === "READY" || n.lifecycle === "LAUNCHING").length;
  const before = pool.spec.capacity;
  const idle = live > capacity.max ? `; ${live - capacity.max} idle ones will be drained` : "";
  return {
    pool: opts.pool,
    version: pool.version,
    spec: parsed.data,
    description: `scale pool ${opts.pool} from min ${before.min} / max ${before.max} to min ${capacity.min} / max ${capacity.max} (${live} live nodes${idle})`,
  };
}

export async function applyScale(fleet: FleetStore, plan: ScalePlan): Promise<{ pool: string; capacity: PoolSpec["capacity"] }> {
  const updated = await fleet.updatePool(plan.pool, plan.version, { spec: plan.spec });
  if (!updated) throw new ActionRefused(`pool ${plan.pool} changed while this command ran; run it again`);
  return { pool: plan.pool, capacity: updated.spec.capacity };
}
