import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FleetStore } from "../../controller/store/fleet-store.ts";
import type { Clock } from "../../lib/clock.ts";
import { repoRoot } from "../stack/stack.ts";

/**
 * The chaos run's controllers: real `spotferry controller run` processes, as an operator runs them in fleet mode
 * (leader-elected replicas over the state table), with the controller role's session in their environment. Two
 * run at any time, a leader and a standby; killing the leader is a SIGKILL (no lease given back), so the standby
 * takes over only when the lease expires, and a fresh standby is started at once to keep two.
 */
export interface ControllerGroupOptions {
  /** The controller role's session, every AWS endpoint at the sim. */
  env: Record<string, string | undefined>;
  /** A ControllerSettings file (JSON is YAML). */
  settingsFile: string;
  /** Where each replica's stderr goes: controller-<n>.log. */
  logDir: string;
  /** Reads the leader lease (the operator's own view of the state table, not through the sim). */
  fleet: FleetStore;
  clock: Clock;
  /** The run's name in the replicas' owner ids. */
  name: string;
}

interface Replica {
  owner: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
}

export class ControllerGroup {
  private readonly o: ControllerGroupOptions;
  private readonly replicas: Replica[] = [];
  private started = 0;

  constructor(o: ControllerGroupOptions) {
    this.o = o;
  }

  /** Starts replicas until `count` are running. */
  ensure(count = 2): void {
    while (this.running().length < count) this.spawnReplica();
  }

  private running(): Replica[] {
    return this.replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
  }

  private spawnReplica(): void {
    const n = ++this.started;
    const owner = `${this.o.name}:controller-${n}`;
    const log = join(this.o.logDir, `controller-${n}.log`);
    const fd = openSync(log, "a");
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [join(repoRoot, "bin", "spotferry.mjs"), "controller", "run", "--config", this.o.settingsFile, "--owner", owner],
        { cwd: repoRoot, env: this.o.env as NodeJS.ProcessEnv, stdio: ["ignore", fd, fd] },
      );
    } finally {
      closeSync(fd);
    }
    const exited = new Promise<void>((ok) => {
      child.once("exit", () => ok());
      child.once("error", () => ok());
    });
    this.replicas.push({ owner, child, log, exited });
  }

  /** The owner of a live leader lease, if any. */
  async leader(): Promise<string | null> {
    const lease = await this.o.fleet.getLeader();
    return lease && lease.expiresAt > this.o.clock.now() ? lease.owner : null;
  }

  /**
   * SIGKILLs the replica that holds the leader lease and starts a new standby; null when no replica of this group
   * leads right now (no one yet, or a takeover under way).
   */
  async killLeader(): Promise<{ owner: string; at: number } | null> {
    const owner = await this.leader();
    const victim = this.running().find((r) => r.owner === owner);
    if (!victim) return null;
    victim.child.kill("SIGKILL");
    await victim.exited;
    const at = this.o.clock.now();
    this.ensure();
    return { owner: victim.owner, at };
  }

  /** Whether a replica other than `former` holds the lease now. */
  async tookOver(former: string): Promise<boolean> {
    const owner = await this.leader();
    return owner !== null && owner !== former;
  }

  /** SIGTERM to every replica (each gives its lease back), then waits for them. */
  async stop(): Promise<void> {
    const live = this.running();
    for (const r of live) r.child.kill("SIGTERM");
    await Promise.all(live.map((r) => r.exited));
  }

  /** Every replica's log lines that match. */
  grep(pattern: RegExp): string[] {
    return this.replicas.flatMap((r) => {
      try {
        return readFileSync(r.log, "utf8")
          .split("\n")
          .filter((l) => pattern.test(l));
      } catch {
        return [];
      }
    });
  }
}
