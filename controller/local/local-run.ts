import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Clock } from "../../lib/clock.ts";
import type { ExportProgress, JobStore } from "../../lib/jobs/job-store.ts";

/**
 * `export run --local`: this machine plays the fleet. It runs N agent processes against the configured endpoints,
 * replaces any that die before the export is done (as the controller replaces interrupted nodes), reaps leases of
 * killed agents, and reports progress until every partition is DONE or nothing more can progress.
 */
export interface LocalRunOptions {
  store: JobStore;
  clock: Clock;
  exportId: string;
  pool: string;
  stateTable: string;
  workers: number;
  /** Command that starts one agent, e.g. [process.execPath, "bin/spotferry.mjs"]. */
  agentCommand: string[];
  leaseSeconds: number;
  logDir: string;
  env?: NodeJS.ProcessEnv;
  onProgress?: (p: ExportProgress, workers: number) => void;
  signal?: AbortSignal;
}

export interface LocalRunResult {
  done: boolean;
  progress: ExportProgress;
  agentsStarted: number;
  agentsDied: number;
  reaped: number;
  reason?: string;
}

export async function runLocalAgents(opts: LocalRunOptions): Promise<LocalRunResult> {
  const { store, clock } = opts;
  mkdirSync(opts.logDir, { recursive: true });
  const live = new Map<number, ChildProcess>();
  let started = 0;
  let died = 0;
  let reaped = 0;
  const start = (slot: number) => {
    const nodeId = `local-${slot}-${++started}`;
    const log = createWriteStream(join(opts.logDir, `${nodeId}.log`));
    const child = spawn(
      opts.agentCommand[0]!,
      [
        ...opts.agentCommand.slice(1),
        "agent",
        "run",
        "--no-imds",
        "--pool",
        opts.pool,
        "--node-id",
        nodeId,
        "--state-table",
        opts.stateTable,
        "--idle-exit",
        "5s",
        "--lease",
        `${opts.leaseSeconds}s`,
        "--heartbeat",
        `${Math.max(1, Math.floor(opts.leaseSeconds / 4))}s`,
      ],
      { env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.on("exit", (code, signal) => {
      if (live.get(slot) === child) live.delete(slot);
      if (code !== 0) died++;
      log.end(`agent exited: code ${code} signal ${signal}\n`);
    });
    live.set(slot, child);
  };
  for (let i = 0; i < opts.workers; i++) start(i);
  let progress = await store.progress(opts.exportId);
  let reason: string | undefined;
  try {
    for (;;) {
      if (opts.signal?.aborted) {
        reason = "interrupted";
        break;
      }
      await clock.sleep(1000);
      reaped += (await store.reapExpired({ skewMarginMs: 1000 })).length;
      progress = await store.progress(opts.exportId);
      opts.onProgress?.(progress, live.size);
      const { DONE, PENDING, LEASED, QUARANTINED } = progress.byState;
      if (DONE.partitions === progress.total.partitions) break;
      if (PENDING.partitions + LEASED.partitions === 0 && QUARANTINED.partitions > 0) {
        reason = `${QUARANTINED.partitions} partitions are quarantined (see \`spotferry export show ${opts.exportId} --state QUARANTINED\`)`;
        break;
      }
      // Replace agents that died, or that went idle while partitions wait out a backoff.
      for (let i = 0; i < opts.workers; i++) if (!live.has(i) && PENDING.partitions + LEASED.partitions > 0) start(i);
    }
  } finally {
    await Promise.all(
      [...live.values()].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null) return resolve();
            c.once("exit", () => resolve());
            c.kill("SIGTERM");
            setTimeout(() => c.kill("SIGKILL"), 30_000).unref();
          }),
      ),
    );
  }
  const done = progress.byState.DONE.partitions === progress.total.partitions;
  return { done, progress, agentsStarted: started, agentsDied: died, reaped, ...(reason ? { reason } : {}) };
}
