import type { S3Client } from "@aws-sdk/client-s3";
import type { ExportRecord } from "../config/records.ts";
import type { AgentSettings } from "../config/settings.ts";
import type { Clock } from "../lib/clock.ts";
import { describeError } from "../lib/errors.ts";
import { type JobStore, type Lease, LeaseLostError } from "../lib/jobs/job-store.ts";
import { DEFAULT_RETRY } from "../lib/jobs/semantics.ts";
import { type MysqlSource, openExportSource } from "../lib/mysql/range-source.ts";
import { type Imds, type Notice, watchInterruptions } from "./imds.ts";
import { type Outcome, runPartition, type StopRequest } from "./partition-runner.ts";

/**
 * The node agent: claims partitions of its pool, streams each one (agent/partition-runner.ts), and stops cleanly.
 * Stops: a spot termination notice (cut the chunk now, commit, release, exit), a rebalance recommendation with
 * onRebalance=drain (finish the chunk, release, exit), SIGTERM/drain() (same as a notice without a deadline), or no
 * claimable work for idleExitAfter. It needs only the state table, the pool and its node id: the rest comes from
 * each export record.
 */
export interface AgentDeps {
  store: JobStore;
  s3: S3Client;
  clock: Clock;
  settings: AgentSettings & { nodeId: string };
  imds?: Imds;
  env?: Record<string, string | undefined>;
  log?: (line: string) => void;
}

export interface AgentSummary {
  outcomes: Record<Outcome, number>;
  stoppedBy: string;
}

export class Agent {
  private readonly deps: AgentDeps;
  private stopRequest: StopRequest | null = null;
  private readonly stopped = new AbortController();
  private readonly sources = new Map<string, Promise<{ record: ExportRecord; source: MysqlSource }>>();
  private readonly log: (line: string) => void;
  private lastWork: number;

  constructor(deps: AgentDeps) {
    this.deps = deps;
    this.log = deps.log ?? ((line) => process.stderr.write(`${new Date(deps.clock.now()).toISOString()} ${line}\n`));
    this.lastWork = deps.clock.now();
  }

  /** Asks the agent to stop: running partitions commit or abandon their chunk and release; nothing new is claimed. */
  drain(request: StopRequest): void {
    if (this.stopRequest && this.stopRequest.mode === "now") return;
    this.stopRequest = request;
    this.log(`stopping (${request.reason}): ${request.mode === "now" ? "cutting the current chunk" : "finishing the current chunk"}`);
    this.stopped.abort();
  }

  private onNotice(n: Notice): void {
    if (n.kind === "termination") {
      this.drain({
        mode: "now",
        interrupted: true,
        reason: `spot ${n.action} notice for ${new Date(n.deadline).toISOString()}`,
        deadline: n.deadline,
      });
    } else if (this.deps.settings.onRebalance === "drain") {
      this.drain({ mode: "chunk-end", interrupted: true, reason: "rebalance recommendation" });
    } else {
      this.log("rebalance recommendation received; onRebalance=ignore, working on");
    }
  }

  async run(): Promise<AgentSummary> {
    const { settings, clock } = this.deps;
    const outcomes: Record<Outcome, number> = { completed: 0, released: 0, lost: 0, failed: 0 };
    const watcher = this.deps.imds
      ? watchInterruptions(this.deps.imds, clock, {
          intervalMs: settings.imdsPollInterval * 1000,
          signal: this.stopped.signal,
          onNotice: (n) => this.onNotice(n),
          onError: (err) => this.log(`IMDS poll failed: ${describeError(err)}`),
        })
      : Promise.resolve();
    let stoppedBy = "idle";
    const slot = async () => {
      while (!this.stopRequest) {
        const outcome = await this.claimAndRun().catch((err) => {
          this.log(`claim loop error: ${describeError(err)}`);
          return "error" as const;
        });
        if (outcome && outcome !== "error") {
          outcomes[outcome]++;
          this.lastWork = clock.now();
          continue;
        }
        if (clock.now() - this.lastWork >= settings.idleExitAfter * 1000) return;
        // Back off with jitter so idle agents do not poll the queue in lockstep.
        await clock.sleep(500 + Math.random() * 1500, this.stopped.signal).catch(() => {});
      }
    };
    await Promise.all(Array.from({ length: settings.concurrency }, slot));
    if (this.stopRequest) stoppedBy = this.stopRequest.reason;
    this.stopped.abort();
    await watcher;
    await Promise.all([...this.sources.values()].map(async (s) => (await s.catch(() => null))?.source.close()));
    this.log(`agent ${settings.nodeId} exiting (${stoppedBy}): ${JSON.stringify(outcomes)}`);
    return { outcomes, stoppedBy };
  }

  /**
   * One claim and, when it succeeds, the whole partition; null when nothing was claimable. Whatever fails once the
   * lease is held (reading or decoding the export record, opening the source, reading, encoding, uploading) is
   * recorded as a failed attempt of the partition, so a poisoned partition backs off and ends QUARANTINED with its
   * reason instead of holding its lease until it expires, claim after claim.
   */
  private async claimAndRun(): Promise<Outcome | null> {
    const { store, settings } = this.deps;
    const lease = await store.claim({ pool: settings.pool, owner: settings.nodeId, leaseMs: settings.partitionLease * 1000 });
    if (!lease) return null;
    this.log(`claimed partition ${lease.partition} of ${lease.exportId} at epoch ${lease.epoch} (cursor ${JSON.stringify(lease.cursor)})`);
    if (lease.crashCounted)
      this.log(`partition ${lease.partition} of ${lease.exportId}: attempt ${lease.attempts} counted: ${lease.crashCounted}`);
    try {
      return await this.work(lease);
    } catch (err) {
      return this.failClaimed(lease, err);
    }
  }

  private async work(lease: Lease): Promise<Outcome> {
    const { store, settings } = this.deps;
    // The state is read at every claim (not cached) so a cancelled export stops being worked on at once.
    const current = await stage(`reading the record of export ${lease.exportId}`, store.getExport(lease.exportId));
    if (current?.state !== "RUNNING") {
      // Parked, not re-queued: otherwise the partition would bounce between claimers for ever.
      await store.release(lease, { park: true, detail: `export is ${current?.state ?? "gone"}` });
      return "released";
    }
    const { retry } = current.spec;
    if (lease.crashCounted && lease.attempts >= retry.maxAttempts) {
      // Its holders kept dying on it: the claim counted the last one, and that was the last attempt allowed.
      const failure = { error: lease.crashCounted, maxAttempts: retry.maxAttempts, backoffMs: retry.backoff * 1000 };
      await store.fail(lease, { ...failure, alreadyCounted: true });
      this.log(`partition ${lease.partition} of ${lease.exportId}: quarantined after ${lease.attempts} attempts`);
      return "failed";
    }
    // A source that cannot be opened (bad password, dropped table) fails the attempt like any other error.
    const { record, source } = await stage(`opening the source of export ${lease.exportId}`, this.sourceFor(lease.exportId));
    const outcome = await runPartition(
      {
        store,
        s3: this.deps.s3,
        clock: this.deps.clock,
        exportRecord: record,
        source,
        leaseMs: settings.partitionLease * 1000,
        heartbeatMs: settings.heartbeatInterval * 1000,
        stop: () => this.stopRequest,
        log: this.log,
      },
      lease,
    );
    this.log(`partition ${lease.partition} of ${lease.exportId}: ${outcome}`);
    return outcome;
  }

  /**
   * Records a failure of a held partition as an attempt, fenced on the lease, with the export's retry policy as the
   * store reads it leniently: the record itself may be what cannot be decoded.
   */
  private async failClaimed(lease: Lease, err: unknown): Promise<Outcome> {
    const { store } = this.deps;
    const what = `partition ${lease.partition} of ${lease.exportId}`;
    const error = describeError(err).replace(/\s+/g, " ");
    this.log(`${what} failed: ${error}`);
    if (err instanceof LeaseLostError) return "lost";
    try {
      const policy = (await store.retryPolicy(lease.exportId)) ?? DEFAULT_RETRY;
      const failed = await store.fail(lease, { error, ...policy });
      if (failed.state === "QUARANTINED") this.log(`${what}: quarantined after ${failed.attempts} attempts`);
    } catch (failErr) {
      // Unrecorded, the lease expires and the next claim counts the attempt (JobStore.claim).
      this.log(`recording the failure of ${what} failed too: ${describeError(failErr)}`);
    }
    return "failed";
  }

  /** One source (one small connection pool) per export, opened on first use. */
  private sourceFor(exportId: string): Promise<{ record: ExportRecord; source: MysqlSource }> {
    let entry = this.sources.get(exportId);
    if (!entry) {
      entry = (async () => {
        const record = await this.deps.store.getExport(exportId);
        if (!record) throw new Error(`export ${exportId} has no record`);
        return { record, source: await openExportSource(record, this.deps.clock, this.deps.env) };
      })();
      entry.catch(() => this.sources.delete(exportId));
      this.sources.set(exportId, entry);
    }
    return entry;
  }
}

/** Awaits `work`, naming the stage in its error, so the partition's lastError says where it failed. */
async function stage<T>(what: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw err instanceof LeaseLostError ? err : new Error(what, { cause: err });
  }
}
