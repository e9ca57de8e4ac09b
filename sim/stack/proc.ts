import { spawn } from "node:child_process";
import { openSync } from "node:fs";
import { createServer } from "node:net";

/** True when a process with this pid exists (signal 0 probes without touching it). */
export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Starts a long-running server in its own process group, detached from the caller, output appended to `logFile`.
 * Its own group lets `stopGroup` end the server and every worker it forked, and nothing else.
 */
export function startDetached(command: string, args: string[], opts: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }): number {
  const out = openSync(opts.logFile, "a");
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ["ignore", out, out],
  });
  if (!child.pid) throw new Error(`starting ${command}: no pid (is it installed?)`);
  child.unref();
  return child.pid;
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once no member is left. */
export async function stopGroup(pid: number, graceMs = 10_000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  const groupAlive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return isAlive(pid);
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (groupAlive() && Date.now() < deadline) await delay(100);
  if (groupAlive()) {
    signal("SIGKILL");
    while (groupAlive() && Date.now() < deadline + 5000) await delay(50);
  }
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Polls `probe` until it resolves true or `timeoutMs` passes; the last probe error explains a timeout. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  isStillRunning?: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    if (isStillRunning && !isStillRunning()) throw new Error(`${what}: the process exited during start-up`, { cause: lastError });
    await delay(200);
  }
  throw new Error(`${what}: not ready after ${Math.round(timeoutMs / 1000)} s`, { cause: lastError });
}

/**
 * Awaits a service's readiness; if it never comes, stops the process groups that were started for it before
 * rethrowing, so a failed start leaves nothing running that the stack's state does not know about.
 */
export async function readyOrStop<T>(pids: number[], ready: Promise<T>): Promise<T> {
  try {
    return await ready;
  } catch (err) {
    await Promise.all(pids.map((pid) => stopGroup(pid, 5000)));
    throw err;
  }
}
