import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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

/**
 * What an EC2 node finds in its environment, and no more: never a key, a token or a password (a node learns its
 * credentials from IMDS only). From the sim's own environment only the region, the endpoint URLs (on AWS those are
 * the SDK's defaults) and the SDK's checksum and warning switches pass.
 */
const PASSED =
  /^AWS_(REGION|DEFAULT_REGION|ENDPOINT_URL(_[A-Z0-9_]+)?|REQUEST_CHECKSUM_CALCULATION|RESPONSE_CHECKSUM_VALIDATION|SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED)$/;

export function passthroughEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && PASSED.test(k)) out[k] = v;
  return out;
}

/** Names that look like secrets: a test's instanceEnv may not smuggle any onto a node. */
export const SECRET_LIKE = /SECRET|PASSWORD|TOKEN|CREDENTIAL|PRIVATE|ACCESS_KEY/i;

export function checkInstanceEnv(env: Record<string, string>): void {
  const bad = Object.keys(env).filter((k) => SECRET_LIKE.test(k));
  if (bad.length) {
    throw new Error(`starting the sim: instanceEnv ${bad.join(", ")} looks like a secret; nodes get credentials from IMDS only`);
  }
}

/** Where the image's tools are found on the host. */
const SYSTEM_DIRS = ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/**
 * What a minimal Linux image offers the user-data: a shell, coreutils, curl, tar and gzip, ssh-keygen. No Node: a
 * node gets its runtime from the artifact bucket like the agent, so the host's Node (and its version) cannot leak in.
 */
export const IMAGE_TOOLS = [
  ...["bash", "sh", "env", "cat", "cut", "grep", "sed", "tee", "mkdir", "rm", "mv", "cp", "ln", "ls", "chmod", "mktemp"],
  ...["sleep", "uname", "id", "date", "head", "tail", "printf", "test", "sha256sum", "dirname", "basename", "true", "false"],
  ...["touch", "wc", "sort", "tr", "stat", "find", "xargs", "ps", "kill", "curl", "tar", "gzip", "ssh-keygen"],
];

/**
 * The machine image's PATH: `<stateDir>/image/bin`, a folder of links to the host's copies of IMAGE_TOOLS (and
 * `extras`, what a test bakes into its image) and nothing else. Never the host's PATH (node_modules/.bin, the host's Node and the like).
 */
export function imagePath(stateDir: string, extras: Record<string, string> = {}): string {
  const bin = join(stateDir, "image", "bin");
  mkdirSync(bin, { recursive: true });
  // A state folder from before the image lost its Node still has the link.
  if (!extras.node) rmSync(join(bin, "node"), { force: true });
  const found = (tool: string) => extras[tool] ?? SYSTEM_DIRS.map((d) => join(d, tool)).find((p) => existsSync(p));
  for (const tool of [...IMAGE_TOOLS, ...Object.keys(extras)]) {
    const link = join(bin, tool);
    if (existsSync(link)) continue;
    const host = found(tool);
    if (!host) continue;
    try {
      symlinkSync(host, link);
    } catch (err) {
      // Two instances booting at once may both create it.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  return bin;
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
      // Only what the caller gives: the user-data must not inherit the sim's environment.
      env: { HOME: opts.dir, LANG: "C.UTF-8", ...opts.env },
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
