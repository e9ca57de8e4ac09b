import { execFile } from "node:child_process";
import { hostname } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { FleetStore } from "../../controller/store/fleet-store.ts";
import type { Clock } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { seededRandom } from "../chaos.ts";
import { repoRoot } from "../stack/stack.ts";
import { type ControllerDeps, type ControllerReplica, type FinalizeLog, startReplica } from "./controllers.ts";
import { simFaults } from "./ledger.ts";
import type { RehearsalOptions } from "./rehearsal.ts";
import type { RehearsalNames } from "./setup.ts";

/**
 * The rehearsal's planned faults (RehearsalOptions.chaos), fired by progress: spot notices and hard kills of a busy
 * node through the sim, `spotferry rotate` through the CLI, and a crash of the leading controller replica.
 */

/** What firing a fault needs of the running rehearsal (rehearsal.ts passes its whole run context). */
export interface FaultContext {
  opts: { sim: { url: string } };
  names: RehearsalNames;
  /** The CLI's environment: the controller role's session, every AWS endpoint at the sim. */
  env: Record<string, string | undefined>;
  clock: Clock;
  log: (line: string) => void;
  jobs: JobStore;
  fleet: FleetStore;
  exportId: string;
  replicas: ControllerReplica[];
  replicaDeps: ControllerDeps;
  finalized: FinalizeLog;
  /** Nodes hit by an injected fault: never picked again. */
  faulted: Set<string>;
}

const exec = promisify(execFile);

/** `spotferry rotate POOL`, exactly as an operator types it. */
async function rotateWithCli(pool: string, stateTable: string, env: Record<string, string | undefined>): Promise<string> {
  const { stdout } = await exec(process.execPath, [join(repoRoot, "bin", "spotferry.mjs"), "rotate", pool, "--state-table", stateTable], {
    env: env as NodeJS.ProcessEnv,
    timeout: 60_000,
  });
  return stdout.trim();
}

/** POST /_sim/PATH on the sim: its hazard and its instances' interrupt and kill. */
export async function simPost(url: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${url}/_sim${path}`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST /_sim${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

type Trigger = { at: number; kind: "interrupt" | "kill" | "rotate" | "restart" | "ensure"; done: boolean };

/** The planned faults, in order of the fraction of rows they wait for, and what became of them. */
export interface FaultPlan {
  triggers: Trigger[];
  /** Picks victims, seeded. */
  random: () => number;
  rotatedAt: number | null;
  restartedAt: number | null;
  /** Faults given up on: no busy node to hit within 25 % more progress. */
  skipped: string[];
}

export function planFaults(chaos: NonNullable<RehearsalOptions["chaos"]>): FaultPlan {
  const triggers: Trigger[] = [
    ...(chaos.interruptAt ?? []).map((at) => ({ at, kind: "interrupt" as const, done: false })),
    ...(chaos.killAt ?? []).map((at) => ({ at, kind: "kill" as const, done: false })),
    ...(chaos.rotateAt != null ? [{ at: chaos.rotateAt, kind: "rotate" as const, done: false }] : []),
    ...(chaos.restartControllerAt != null ? [{ at: chaos.restartControllerAt, kind: "restart" as const, done: false }] : []),
    ...(chaos.ensureInterruptionBy != null ? [{ at: chaos.ensureInterruptionBy, kind: "ensure" as const, done: false }] : []),
  ].sort((a, b) => a.at - b.at);
  return { triggers, random: seededRandom(chaos.seed ?? 7), rotatedAt: null, restartedAt: null, skipped: [] };
}

/** Fires every fault whose fraction has been reached; one that cannot be fired is retried, then skipped. */
export async function injectDue(live: FaultContext, plan: FaultPlan, fraction: number): Promise<void> {
  for (const t of plan.triggers) {
    if (t.done || fraction < t.at) continue;
    try {
      t.done = await fire(live, plan, t);
    } catch (err) {
      live.log(`injecting ${t.kind} at ${Math.round(t.at * 100)}% failed (will retry): ${describeError(err)}`);
    }
    if (!t.done && fraction > t.at + 0.25) {
      t.done = true;
      plan.skipped.push(`${t.kind}@${Math.round(t.at * 100)}%`);
    }
  }
}

/** Whether the fault happened (false: no busy node to hit yet). */
async function fire(live: FaultContext, plan: FaultPlan, t: Trigger): Promise<boolean> {
  const { opts, names, clock, log, replicas, fleet } = live;
  if (t.kind === "rotate") {
    log(`rotating the pool: ${await rotateWithCli(names.pool, names.stateTable, live.env)}`);
    plan.rotatedAt = clock.now();
    return true;
  }
  if (t.kind === "restart") {
    const old = replicas.at(-1)!;
    await old.crash();
    replicas.push(startReplica(live.replicaDeps, `${hostname()}:rehearsal:${replicas.length + 1}`, live.finalized));
    plan.restartedAt = clock.now();
    log(`controller ${old.owner} crashed (its leader lease runs out on its own); ${replicas.at(-1)!.owner} stands by to take over`);
    return true;
  }
  if (t.kind === "ensure") {
    const hit = (await simFaults(opts.sim.url, new Set((await fleet.listNodes(names.pool)).map((n) => n.instanceId)))).length;
    if (hit > 0) return true;
  }
  const id = await victim(live, plan);
  if (!id) return false;
  live.faulted.add(id);
  if (t.kind === "kill") {
    await simPost(opts.sim.url, `/instances/${id}/kill`, {});
    log(`hard-killed ${id} (no notice: its leases are released by the controller or expire)`);
  } else {
    await simPost(opts.sim.url, `/instances/${id}/interrupt`, {});
    log(`spot interruption notice sent to ${id}`);
  }
  return true;
}

/** A node holding a lease that has not been hit yet, picked by the seeded generator. */
async function victim(live: FaultContext, plan: FaultPlan): Promise<string | null> {
  const progress = await live.jobs.progress(live.exportId);
  const nodes = new Map((await live.fleet.listNodes(live.names.pool)).map((n) => [n.instanceId, n]));
  const busy = Object.keys(progress.owners)
    .filter((id) => !live.faulted.has(id) && nodes.get(id)?.lifecycle === "READY" && nodes.get(id)?.retiringAt === null)
    .sort();
  return busy.length ? busy[Math.floor(plan.random() * busy.length)]! : null;
}
