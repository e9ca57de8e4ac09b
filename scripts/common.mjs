// Shared by the npm scripts: they must run on a fresh clone, before dependencies are installed.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Installs the npm dependencies when a fresh clone has none. `npm install` (not `npm ci`) installs the locked versions:
 * see .ci/run for why `npm ci` refuses this lockfile on these machines.
 */
export function ensureNodeModules() {
  if (existsSync(join(root, "node_modules", "tsx")) && existsSync(join(root, "node_modules", "@aws-sdk", "client-s3"))) return;
  const cmd = "install";
  process.stderr.write(`installing npm dependencies (npm ${cmd})\n`);
  const r = spawnSync("npm", [cmd, "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    process.stderr.write(`npm ${cmd} failed; is the npm registry reachable?\n`);
    process.exit(3);
  }
}

/** Runs the spotferry CLI; with capture, stderr is echoed and returned. */
export function spotferry(args, { capture = false } = {}) {
  const r = spawnSync(process.execPath, [join(root, "bin", "spotferry.mjs"), ...args], {
    cwd: root,
    stdio: capture ? ["ignore", "inherit", "pipe"] : "inherit",
    encoding: "utf8",
  });
  if (capture && r.stderr) process.stderr.write(r.stderr);
  return r;
}
