/**
 * An agent on every core: `--processes N` runs N agent processes of one node (this one supervising, each child a
 * full agent with `--processes 1`), so partitions are read, decoded and encoded on N cores. Processes, not worker
 * threads: the MySQL driver and the encoder's main half are single-threaded JavaScript, and each process keeps its
 * own heap, so the memory bound holds per process (test/bench/export.bench.ts measures both).
 *
 * - Every child claims, heartbeats, checkpoints and watches IMDS itself: each is exactly the agent of
 *   agent/agent.ts, with the node's id, so fencing, leases and interruption handling are unchanged.
 * - SIGTERM/SIGINT here are forwarded to every child (systemd's KillMode=mixed signals only the main process).
 * - A child whose parent dies (SIGKILL, OOM) sees its IPC channel close and drains as on SIGTERM, so no agent is
 *   left behind working for a node that is gone.
 * - The exit code is the worst child's: any failure fails the node's agent.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { AGENT_PROCESS_ENV } from "../config/settings.ts";
import { ExitCode } from "../lib/errors.ts";

/** Set in each child: its place, e.g. "2/4", for its log lines. */
export const PROCESS_ENV = "SPOTFERRY_AGENT_PROCESS";

/** The command line of one child: this process's own, with `--processes` replaced by 1. */
export function childArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--processes") {
      i++;
      continue;
    }
    if (a.startsWith("--processes=")) continue;
    out.push(a);
  }
  return [...out, "--processes=1"];
}

export async function superviseAgents(opts: {
  processes: number;
  /** The script and its arguments, as given to this process (process.argv.slice(1)). */
  argv: readonly string[];
  log: (line: string) => void;
}): Promise<number> {
  const args = [...process.execArgv, ...childArgs(opts.argv)];
  const children: ChildProcess[] = [];
  const exits: Promise<number>[] = [];
  for (let k = 1; k <= opts.processes; k++) {
    const child = spawn(process.execPath, args, {
      env: { ...AGENT_PROCESS_ENV, ...process.env, [PROCESS_ENV]: `${k}/${opts.processes}` },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children.push(child);
    exits.push(
      new Promise((resolve) => {
        child.once("error", (err) => {
          opts.log(`agent process ${k}/${opts.processes} could not start: ${err.message}`);
          resolve(ExitCode.failure);
        });
        child.once("exit", (code, signal) => {
          if (code !== 0) opts.log(`agent process ${k}/${opts.processes} exited: code ${code} signal ${signal}`);
          resolve(code ?? ExitCode.failure);
        });
      }),
    );
  }
  const forward = (sig: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  const onTerm = () => forward("SIGTERM");
  const onInt = () => forward("SIGINT");
  process.on("SIGTERM", onTerm);
  process.on("SIGINT", onInt);
  try {
    const codes = await Promise.all(exits);
    return codes.find((c) => c !== ExitCode.ok) ?? ExitCode.ok;
  } finally {
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onInt);
  }
}

/** In a child: the supervisor going away (its IPC channel closing) is a stop request, like SIGTERM. */
export function onSupervisorGone(stop: () => void): void {
  if (!process.send) return;
  process.once("disconnect", stop);
  // The channel must not keep the child alive by itself once its work is done.
  process.channel?.unref();
}
