import { readFileSync } from "node:fs";
import { join } from "node:path";
import type mysql from "mysql2/promise";
import type { FleetStore } from "../../controller/store/fleet-store.ts";
import type { Clock } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { simPost } from "../rehearsal/faults.ts";
import type { ControllerGroup } from "./controllers.ts";
import { FAULT_KINDS, type FaultKind, type PlannedFault } from "./schedule.ts";

/**
 * Fires the chaos schedule (schedule.ts) into a running export. Each fault is due at its fraction of the rows and
 * fires once it has something to hit: a busy node (agent SIGKILL through `sim kill`, SIGSTOP through the sim's freeze),
 * a session of the export's MySQL user (KILL CONNECTION over the operator's admin connection), the sim's S3 or
 * DynamoDB front door (an outage of a few seconds: only the fleet's calls go through it), the leading
 * `controller run` process (SIGKILL; the standby takes over when the lease runs out). Faults that play out over time
 * are followed on later ticks: a frozen node is thawed once its leases were taken from it (so the zombie wakes up
 * fenced), and a controller kill waits for the takeover before the next one.
 */
export interface ChaosTargets {
  simUrl: string;
  /** The operator's view of the state table (not through the sim, so outages do not blind the run). */
  jobs: JobStore;
  fleet: FleetStore;
  exportId: string;
  pool: string;
  controllers: ControllerGroup;
  /** The operator's MySQL connection, which may KILL other users' sessions. */
  admin: mysql.Connection;
  /** The export's MySQL user, whose sessions are killed. */
  mysqlUser: string;
  clock: Clock;
  log: (line: string) => void;
}

export interface ChaosFigures {
  planned: number;
  injected: Record<FaultKind, number>;
  /** Faults that never found anything to hit before the export ended. */
  notInjected: string[];
  /** Frozen nodes whose leases were taken over while frozen, then thawed: zombies that had to be fenced. */
  zombies: number;
  /** Of those, the ones whose agent log shows it gave the partition up as lost on waking (no write after the lease). */
  zombiesFenced: number;
  /** Time from SIGSTOP to the last lease taken from the frozen node, ms. */
  freezeTakeoverMs: number[];
  /** Time from a leader's SIGKILL to another replica's lease, ms. */
  controllerTakeoverMs: number[];
}

interface Frozen {
  id: string;
  at: number;
}

const MAX_FROZEN = 2;

export class FaultInjector {
  private readonly t: ChaosTargets;
  private readonly pending: PlannedFault[];
  readonly figures: ChaosFigures;
  private readonly hit = new Set<string>();
  private readonly frozen: Frozen[] = [];
  private readonly thawed: string[] = [];
  private takeover: { owner: string; at: number } | null = null;
  private readonly outageUntil: Record<"s3" | "dynamodb", number> = { s3: 0, dynamodb: 0 };

  constructor(targets: ChaosTargets, schedule: PlannedFault[]) {
    this.t = targets;
    this.pending = [...schedule];
    this.figures = {
      planned: schedule.length,
      injected: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
      notInjected: [],
      zombies: 0,
      zombiesFenced: 0,
      freezeTakeoverMs: [],
      controllerTakeoverMs: [],
    };
  }

  get remaining(): number {
    return this.pending.length;
  }

  /** One round: follow what is playing out, then fire every due fault that can be fired now, in schedule order. */
  async tick(fraction: number): Promise<void> {
    await this.follow();
    for (const f of [...this.pending]) {
      if (f.at > fraction) break;
      let fired = false;
      try {
        fired = await this.fire(f);
      } catch (err) {
        this.t.log(`chaos: ${f.kind} #${f.index} failed (will retry): ${describeError(err)}`);
      }
      if (fired) {
        this.figures.injected[f.kind]++;
        this.pending.splice(this.pending.indexOf(f), 1);
      }
    }
  }

  /** The export is over: thaw what is still frozen, and count what never fired. */
  async finish(): Promise<void> {
    for (const f of this.frozen.splice(0)) await this.thaw(f.id).catch(() => {});
    this.figures.notInjected = this.pending.map((f) => `${f.kind}#${f.index}`);
    this.figures.zombiesFenced = await this.fencedZombies().catch(() => 0);
  }

  /** Thawed zombies whose agent logged a partition as lost (fenced: it abandons the chunk it held, writes nothing). */
  private async fencedZombies(): Promise<number> {
    const res = await fetch(`${this.t.simUrl}/_sim/instances`);
    const dirs = new Map(((await res.json()) as { instanceId: string; dir: string }[]).map((i) => [i.instanceId, i.dir]));
    return this.thawed.filter((id) => {
      const dir = dirs.get(id);
      if (!dir) return false;
      try {
        return /: lost$/m.test(readFileSync(join(dir, "spotferry", "agent.log"), "utf8"));
      } catch {
        return false;
      }
    }).length;
  }

  private fire(f: PlannedFault): Promise<boolean> {
    switch (f.kind) {
      case "agent-kill":
        return this.killAgent(f);
      case "agent-freeze":
        return this.freezeAgent(f);
      case "mysql-kill":
        return this.killSession(f);
      case "s3-outage":
      case "dynamodb-outage":
        return this.outage(f);
      case "controller-kill":
        return this.killController();
    }
  }

  /** A READY node holding a lease, not killed and not frozen now, picked by the fault's own draw. */
  private async busyNode(f: PlannedFault): Promise<string | null> {
    const progress = await this.t.jobs.progress(this.t.exportId);
    const nodes = new Map((await this.t.fleet.listNodes(this.t.pool)).map((n) => [n.instanceId, n]));
    const busy = Object.keys(progress.owners)
      .filter((id) => !this.hit.has(id) && nodes.get(id)?.lifecycle === "READY")
      .sort();
    return busy.length ? busy[Math.floor(f.pick * busy.length)]! : null;
  }

  private async killAgent(f: PlannedFault): Promise<boolean> {
    const id = await this.busyNode(f);
    if (!id) return false;
    this.hit.add(id);
    await simPost(this.t.simUrl, `/instances/${id}/kill`, {});
    this.t.log(`chaos: SIGKILL ${id} (sim kill)`);
    return true;
  }

  private async freezeAgent(f: PlannedFault): Promise<boolean> {
    if (this.frozen.length >= MAX_FROZEN) return false;
    const id = await this.busyNode(f);
    if (!id) return false;
    this.hit.add(id);
    await simPost(this.t.simUrl, `/instances/${id}/freeze`, {});
    this.frozen.push({ id, at: this.t.clock.now() });
    this.t.log(`chaos: SIGSTOP ${id}, until its leases are taken over`);
    return true;
  }

  private async killSession(f: PlannedFault): Promise<boolean> {
    const [rows] = await this.t.admin.query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? ORDER BY ID", [this.t.mysqlUser]);
    const ids = (rows as { ID: number }[]).map((r) => Number(r.ID));
    if (!ids.length) return false;
    const id = ids[Math.floor(f.pick * ids.length)]!;
    try {
      await this.t.admin.query(`KILL CONNECTION ${id}`);
    } catch (err) {
      // Gone between the listing and the kill: nothing was killed, try again next round.
      if ((err as { errno?: number }).errno === 1094) return false;
      throw err;
    }
    return true;
  }

  private async outage(f: PlannedFault): Promise<boolean> {
    const service = f.kind === "s3-outage" ? "s3" : "dynamodb";
    const now = this.t.clock.now();
    // One outage at a time per service: back to back they would be one long outage.
    if (now < this.outageUntil[service]) return false;
    const seconds = f.seconds ?? 2;
    await simPost(this.t.simUrl, "/outage", { service, seconds, mode: f.mode ?? "refuse" });
    this.outageUntil[service] = now + seconds * 1000;
    this.t.log(`chaos: ${service} down for ${seconds} s (${f.mode})`);
    return true;
  }

  private async killController(): Promise<boolean> {
    if (this.takeover) return false;
    const killed = await this.t.controllers.killLeader();
    if (!killed) return false;
    this.takeover = killed;
    this.t.log(`chaos: SIGKILL the leading controller ${killed.owner}`);
    return true;
  }

  /** Thaws frozen nodes whose leases are gone, and times a pending controller takeover. */
  private async follow(): Promise<void> {
    if (this.frozen.length) {
      const owners = (await this.t.jobs.progress(this.t.exportId)).owners;
      for (const f of [...this.frozen]) {
        if (owners[f.id]) continue;
        this.frozen.splice(this.frozen.indexOf(f), 1);
        this.figures.freezeTakeoverMs.push(this.t.clock.now() - f.at);
        this.figures.zombies++;
        await this.thaw(f.id);
        this.thawed.push(f.id);
        // Awake, it claims work again like any node, and may be hit again once it holds a lease.
        this.hit.delete(f.id);
        this.t.log(`chaos: SIGCONT ${f.id}: its leases were taken over while it slept`);
      }
    }
    if (this.takeover && (await this.t.controllers.tookOver(this.takeover.owner))) {
      this.figures.controllerTakeoverMs.push(this.t.clock.now() - this.takeover.at);
      this.takeover = null;
    }
  }

  private async thaw(id: string): Promise<void> {
    try {
      await simPost(this.t.simUrl, `/instances/${id}/thaw`, {});
    } catch (err) {
      // Terminated while frozen (the controller gave up on it): nothing left to wake.
      if (!/HTTP 404/.test(describeError(err))) throw err;
    }
  }
}
