import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * An instance's "operating system": its user-data run by bash, as cloud-init runs a shell-script part, in a private
 * working directory and its own process group, so terminating the instance reaches every process it started.
 * stdout and stderr go to `console.log` in that directory (the instance's console output and agent log).
 */
export interface InstanceProcess {
  pid: number;
  /** Resolves with the exit code (or signal name) once the main process has exited. */
  exited: Promise<string>;
  signal(sig: NodeJS.Signals): void;
}

/** Environment variables the sim hands to instances from its own environment: the local stack's settings. */
export function passthroughEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (k.startsWith("AWS_") || k.startsWith("SPOTFERRY_")) out[k] = v;
  }
  // An instance always has metadata; a test runner that disabled IMDS for itself must not disable it for nodes.
  delete out.AWS_EC2_METADATA_DISABLED;
  return out;
}

export function startUserData(opts: {
  dir: string;
  userData: Buffer;
  env: Record<string, string>;
  onExit: (code: string) => void;
}): InstanceProcess {
  mkdirSync(opts.dir, { recursive: true });
  const script = join(opts.dir, "user-data");
  writeFileSync(script, opts.userData, { mode: 0o700 });
  const log = openSync(join(opts.dir, "console.log"), "a");
  let child: ChildProcess;
  try {
    child = spawn("bash", [script], {
      cwd: opts.dir,
      env: {
        PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
        HOME: opts.dir,
        LANG: process.env.LANG ?? "C.UTF-8",
        ...opts.env,
      },
      detached: true,
      stdio: ["ignore", log, log],
    });
  } finally {
    closeSync(log);
  }
  const pid = child.pid ?? -1;
  const exited = new Promise<string>((resolve) => {
    child.on("exit", (code, sig) => resolve(code === null ? String(sig) : String(code)));
    child.on("error", (err) => resolve(`spawn failed: ${err.message}`));
  });
  exited.then(opts.onExit);
  child.unref();
  return {
    pid,
    exited,
    signal(sig) {
      if (pid <= 0) return;
      try {
        process.kill(-pid, sig);
      } catch {
        // The group is already gone: nothing left to signal.
      }
    },
  };
}
