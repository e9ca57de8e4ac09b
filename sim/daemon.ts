import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fromSources, repoRoot } from "../lib/paths.ts";
import type { StartSimOptions } from "./server.ts";
import { defaultStateDir } from "./server.ts";

/**
 * The sim as a background process: `simUp` starts sim/main.ts detached (its source under type stripping, or the
 * built dist/sim.mjs when the CLI itself is built), waits until it
 * answers, and returns what `<state dir>/sim.json` records; `simDown` stops it. Both are idempotent, so
 * `spotferry local up/down` can call them blindly. Serializable options only (no clock): the daemon uses real time.
 */
export interface SimStateFile {
  pid: number;
  port: number;
  url: string;
  stateDir: string;
  startedAt: string;
  timeScale: number;
  env: Record<string, string>;
}

export type SimUpOptions = Omit<StartSimOptions, "clock" | "onShutdownRequest" | "geography"> & {
  /** Extra environment for the daemon, passed on to its instances (the local stack's endpoints and MySQL settings). */
  env?: Record<string, string>;
};

const stateFileOf = (stateDir: string) => join(stateDir, "sim.json");

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/_sim/health`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** The running sim recorded in the state dir, or undefined when none is running (stale files are removed). */
export async function readSimState(stateDir = defaultStateDir()): Promise<SimStateFile | undefined> {
  const file = stateFileOf(resolve(stateDir));
  if (!existsSync(file)) return undefined;
  let state: SimStateFile;
  try {
    state = JSON.parse(readFileSync(file, "utf8")) as SimStateFile;
  } catch (err) {
    throw new Error(`reading the sim state file ${file}`, { cause: err });
  }
  if (alive(state.pid) && (await healthy(state.url))) return state;
  if (!alive(state.pid)) rmSync(file, { force: true });
  return undefined;
}

export async function simUp(opts: SimUpOptions = {}): Promise<SimStateFile & { alreadyRunning: boolean }> {
  const stateDir = resolve(opts.stateDir ?? defaultStateDir());
  const running = await readSimState(stateDir);
  if (running) return { ...running, alreadyRunning: true };
  mkdirSync(stateDir, { recursive: true });
  const entry = fromSources ? join(repoRoot, "sim", "main.ts") : join(repoRoot, "dist", "sim.mjs");
  const log = openSync(join(stateDir, "sim.log"), "a");
  try {
    const { env: extraEnv, ...settings } = opts;
    const child = spawn(process.execPath, [entry, JSON.stringify({ ...settings, stateDir })], {
      detached: true,
      stdio: ["ignore", log, log],
      env: { ...process.env, ...extraEnv, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    });
    child.unref();
  } finally {
    closeSync(log);
  }
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 150));
    const state = await readSimState(stateDir).catch(() => undefined);
    if (state) return { ...state, alreadyRunning: false };
  }
  throw new Error(`starting the sim: it did not answer within 20 s; see ${join(stateDir, "sim.log")}`);
}

/** Stops the background sim (SIGTERM, SIGKILL after 10 s). Returns false when none was running. */
export async function simDown(opts: { stateDir?: string } = {}): Promise<boolean> {
  const stateDir = resolve(opts.stateDir ?? defaultStateDir());
  const file = stateFileOf(stateDir);
  if (!existsSync(file)) return false;
  const state = JSON.parse(readFileSync(file, "utf8")) as SimStateFile;
  if (!alive(state.pid)) {
    rmSync(file, { force: true });
    return false;
  }
  process.kill(state.pid, "SIGTERM");
  const deadline = Date.now() + 10_000;
  while (alive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(state.pid)) process.kill(state.pid, "SIGKILL");
  rmSync(file, { force: true });
  return true;
}

/** Calls the control API of the sim in `stateDir`; throws with the sim's own error message on failure. */
export async function control(stateDir: string | undefined, method: "GET" | "POST" | "PUT", path: string, body?: unknown): Promise<string> {
  const state = await readSimState(stateDir);
  if (!state) throw new Error(`no sim is running for ${resolve(stateDir ?? defaultStateDir())}; start one with: spotferry sim up`);
  const res = await fetch(`${state.url}/_sim${path}`, {
    method,
    headers: body === undefined ? undefined : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {}
    throw new Error(message.trim());
  }
  return text;
}
