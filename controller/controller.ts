import { describeError } from "../lib/errors.ts";
import { LeaseKeeper } from "../lib/leases/keeper.ts";
import type { ReconcileContext, Reconciler } from "./reconcilers/context.ts";
import { draining } from "./reconcilers/draining.ts";
import { finalizing } from "./reconcilers/finalizing.ts";
import { garbageCollection } from "./reconcilers/garbage-collection.ts";
import { interruption } from "./reconcilers/interruption.ts";
import { leaseReaping } from "./reconcilers/lease-reaping.ts";
import { createMetricsReconciler } from "./reconcilers/metrics.ts";
import { provisioning } from "./reconcilers/provisioning.ts";
import { retention } from "./reconcilers/retention.ts";
import { rotation } from "./reconcilers/rotation.ts";
import { scaleDown } from "./reconcilers/scale-down.ts";
import { ClusterSnapshot } from "./reconcilers/snapshot.ts";
import { spendCap } from "./reconcilers/spend-cap.ts";
import { splitting } from "./reconcilers/splitting.ts";
import type { LeaderLease } from "./store/fleet-store.ts";

export interface NamedReconciler {
  name: string;
  run: Reconciler;
}

/**
 * The reconcilers in the order one pass runs them: free lost work first (reaping, interruption, drains), then decide
 * capacity (rotation marks retirees before provisioning counts; splitting creates work for idle nodes before
 * provisioning and scale-down count it, so an idle node gets a split instead of being drained), then trim, finish
 * and report.
 */
export function defaultReconcilers(): NamedReconciler[] {
  return [
    { name: "lease-reaping", run: leaseReaping },
    { name: "interruption", run: interruption },
    { name: "draining", run: draining },
    { name: "rotation", run: rotation },
    { name: "splitting", run: splitting },
    { name: "spend-cap", run: spendCap },
    { name: "provisioning", run: provisioning },
    { name: "scale-down", run: scaleDown },
    { name: "finalizing", run: finalizing },
    { name: "garbage-collection", run: garbageCollection },
    { name: "retention", run: retention },
    { name: "metrics", run: createMetricsReconciler() },
  ];
}

export interface ControllerDeps extends Omit<ReconcileContext, "wake" | "log"> {
  /** This replica's identity in the leader lease (host:pid:random). */
  owner: string;
  reconcilers?: NamedReconciler[];
  log?: (line: string) => void;
  /**
   * One cluster snapshot per pass shared by the reconcilers (default true): each pool's work and instances are read
   * once per pass unless a reconciler writes. Off, every reconciler reads for itself (the benchmark's baseline).
   */
  shareSnapshot?: boolean;
}

export interface StepResult {
  leader: boolean;
  /** Names of the reconcilers that ran, in order. */
  ran: string[];
  /** Clock time at which the controller wants to step again. */
  nextAt: number;
}

/** Retry delay for a reconciler that threw (it is logged; the loop never dies of one reconciler's failure). */
const FAILURE_RETRY_MS = 5_000;

/**
 * The controller: runs each reconciler when it is due, only while it holds the leader lease in the state table, so
 * replicas can run side by side and exactly one acts. The lease is renewed at a third of its length; the holder stops
 * acting clockSkewMargin before its lease ends, because a successor takes over by its own clock. Everything else is
 * in the table and the cloud, so a new leader (or a restarted one) continues where the last one stopped.
 */
export class Controller {
  private readonly deps: ControllerDeps;
  private readonly ctx: ReconcileContext;
  private readonly reconcilers: NamedReconciler[];
  private readonly due = new Map<string, number>();
  private lease: LeaderLease | null = null;
  private keeper: LeaseKeeper | null = null;
  private readonly log: (line: string) => void;

  constructor(deps: ControllerDeps) {
    this.deps = deps;
    this.log = deps.log ?? ((line) => process.stderr.write(`${new Date(deps.clock.now()).toISOString()} controller: ${line}\n`));
    this.reconcilers = deps.reconcilers ?? defaultReconcilers();
    this.ctx = {
      ...deps,
      owner: deps.owner,
      log: this.log,
      wake: (name) => this.due.set(name, Number.NEGATIVE_INFINITY),
    };
  }

  private get leaseMs(): number {
    return this.deps.settings.leaderLease * 1000;
  }

  /** Runs reconciler `name` at the next step whatever its schedule (a local run that sees its export is ready to finalize). */
  wake(name: string): void {
    this.ctx.wake(name);
  }

  /** True while this replica may act: it holds the lease with at least the skew margin left. */
  isLeader(): boolean {
    return this.keeper?.held() ?? false;
  }

  get term(): number | null {
    return this.lease?.term ?? null;
  }

  /** Renews the lease when due (lib/leases/keeper.ts), or tries to take it; returns whether this replica leads now. */
  private async ensureLeader(): Promise<boolean> {
    if (this.keeper) {
      if (await this.keeper.renewIfDue()) return true;
      this.keeper = null;
      this.log(`${this.deps.owner} lost the leader lease`);
    }
    const { fleet, owner, clock } = this.deps;
    let lease: LeaderLease | null;
    try {
      lease = await fleet.acquireLeadership(owner, this.leaseMs);
    } catch (err) {
      this.log(`taking the leader lease failed: ${describeError(err)}`);
      return false;
    }
    if (!lease) return false;
    this.lease = lease;
    const term = lease.term;
    this.keeper = new LeaseKeeper({
      what: "the leader lease",
      clock,
      leaseMs: this.leaseMs,
      skewMs: this.deps.settings.clockSkewMargin * 1000,
      heldUntil: lease.expiresAt,
      // Renewing is taking it again as its owner: the term stays; someone else's term means it was lost.
      renew: async () => {
        const renewed = await fleet.acquireLeadership(owner, this.leaseMs);
        if (renewed) this.lease = renewed;
        return renewed !== null && renewed.term === term;
      },
      onError: (err) => this.log(`renewing the leader lease failed: ${describeError(err)}`),
    });
    this.log(`${owner} is the leader (term ${term})`);
    // A new leader runs everything at once: it does not know when its predecessor last did.
    this.due.clear();
    return true;
  }

  /** The context of one pass: the ports watched by a fresh snapshot, so a write drops what the pass has read. */
  private passContext(): ReconcileContext {
    if (this.deps.shareSnapshot === false) return this.ctx;
    const snapshot = new ClusterSnapshot();
    const { jobs, fleet, cloud, finalize } = this.ctx;
    return {
      ...this.ctx,
      snapshot,
      jobs: snapshot.watch(jobs),
      fleet: snapshot.watch(fleet),
      cloud: snapshot.watch(cloud),
      finalize: (exportId) => {
        snapshot.invalidate();
        return finalize(exportId);
      },
    };
  }

  /** Runs every due reconciler (and the ones they woke) once, if this replica leads. */
  async step(): Promise<StepResult> {
    const ran: string[] = [];
    if (!(await this.ensureLeader())) {
      return { leader: false, ran, nextAt: this.deps.clock.now() + Math.max(1_000, this.leaseMs / 3) };
    }
    const ctx = this.passContext();
    // Woken reconcilers run in the same step, but each at most twice, so two that wake each other cannot spin.
    for (let round = 0; round < 2; round++) {
      for (const r of this.reconcilers) {
        if ((this.due.get(r.name) ?? Number.NEGATIVE_INFINITY) > this.deps.clock.now()) continue;
        if (!(await this.ensureLeader())) return { leader: false, ran, nextAt: this.deps.clock.now() + this.leaseMs / 3 };
        this.due.set(r.name, this.deps.clock.now() + FAILURE_RETRY_MS);
        try {
          const { nextRunInMs } = await r.run(ctx);
          // A wake() during the run wins over the reconciler's own schedule.
          if ((this.due.get(r.name) ?? 0) !== Number.NEGATIVE_INFINITY) this.due.set(r.name, this.deps.clock.now() + nextRunInMs);
        } catch (err) {
          this.log(`reconciler ${r.name} failed: ${describeError(err)}`);
        }
        ran.push(r.name);
      }
      if (![...this.due.values()].some((t) => t === Number.NEGATIVE_INFINITY)) break;
    }
    const renewAt = this.keeper?.renewDueAt ?? this.deps.clock.now();
    return { leader: true, ran, nextAt: Math.min(renewAt, ...this.due.values()) };
  }

  /** One pass of every reconciler (cron / Lambda style), then the lease is given back. */
  async runOnce(): Promise<StepResult> {
    this.due.clear();
    try {
      return await this.step();
    } finally {
      await this.stop();
    }
  }

  /** Steps until aborted, sleeping on the injected clock in between; gives the lease back on the way out. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      while (!signal.aborted) {
        const { nextAt } = await this.step();
        const wait = Math.max(100, nextAt - this.deps.clock.now());
        await this.deps.clock.sleep(wait, signal).catch(() => {});
      }
    } finally {
      await this.stop();
    }
  }

  /** Gives the leader lease back so a standby takes over at once instead of after expiry. */
  async stop(): Promise<void> {
    if (!this.keeper) return;
    await this.keeper.stop();
    this.keeper = null;
    this.lease = null;
    await this.deps.fleet.releaseLeadership(this.deps.owner).catch((err) => this.log(`releasing the leader lease: ${describeError(err)}`));
  }
}
