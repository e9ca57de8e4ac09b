// Shared by the npm scripts: they must run on a fresh clone, before dependencies are installed, and under whatever
// Node the machine has (Debian 12 ships Node 20). They install the locked tree, then continue under the project's
// runtime, Node 24 LTS, which the lockfile carries as the optional package node-linux-<arch>.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The Node major the project runs on; package.json's `engines` and the optional node-linux-* packages say the same. */
export const RUNTIME_MAJOR = 24;

const ARCH = { x64: "x64", arm64: "arm64" }[process.arch];
const runtimeBin = ARCH ? join(root, "node_modules", `node-linux-${ARCH}`, "bin", "node") : undefined;

function fail(message, code = 3) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** True when node_modules holds what the lockfile says (npm writes its own copy of the lock after every install). */
function installed() {
  const hidden = join(root, "node_modules", ".package-lock.json");
  if (!existsSync(hidden) || !runtimeBin || !existsSync(runtimeBin)) return false;
  return statSync(hidden).mtimeMs >= statSync(join(root, "package-lock.json")).mtimeMs;
}

/**
 * Installs the locked tree when node_modules is missing or older than package-lock.json. `npm ci` installs exactly the
 * lockfile and never rewrites it, so neither `npm test` nor `npm run demo` can modify a tracked file.
 */
export function ensureNodeModules() {
  if (installed()) return;
  if (process.platform !== "linux" || !ARCH) fail(`spotferry runs on Linux x64 or arm64; this is ${process.platform} ${process.arch}`);
  process.stderr.write("installing the locked npm dependencies and Node.js 24 (npm ci)\n");
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  if (r.error) fail(`npm ci could not be started (${r.error.message}); is npm installed?`);
  if (r.status !== 0) fail("npm ci failed (see above); is the npm registry reachable?");
  if (!existsSync(runtimeBin)) fail(`npm ci did not install node-linux-${ARCH} (Node.js ${RUNTIME_MAJOR}); was --omit=optional set?`);
}

/** The environment for the project's processes: the runtime's folder first on PATH, so a child's `node` is Node 24 too. */
export function runtimeEnv(env = process.env) {
  const bin = join(root, "node_modules", ".bin");
  const path = env.PATH ?? "";
  return path.split(delimiter)[0] === bin ? env : { ...env, PATH: `${bin}${delimiter}${path}` };
}

/**
 * Installs what is missing, then makes sure the calling script runs under Node 24: under any other Node it runs
 * itself again under node_modules' Node 24 and exits with that run's status. Call it before anything else.
 */
export function ensureRuntime() {
  ensureNodeModules();
  if (Number(process.versions.node.split(".")[0]) === RUNTIME_MAJOR) {
    Object.assign(process.env, runtimeEnv());
    return;
  }
  const r = spawnSync(runtimeBin, [...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit", env: runtimeEnv() });
  if (r.error) fail(`Node.js ${RUNTIME_MAJOR} at ${runtimeBin} could not be started: ${r.error.message}`);
  process.exit(r.status ?? (r.signal ? 128 + 1 : 1));
}

/** Builds the CLI into dist/ (esbuild, about a second) so the commands below run what the sources say now. */
export function build() {
  const r = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) fail("building the CLI failed (see above)", 1);
}

/** Runs the spotferry CLI; with capture, stderr is echoed and returned. */
export function spotferry(args, { capture = false, env = process.env } = {}) {
  const r = spawnSync(process.execPath, [join(root, "bin", "spotferry.mjs"), ...args], {
    cwd: root,
    env,
    stdio: capture ? ["ignore", "inherit", "pipe"] : "inherit",
    encoding: "utf8",
  });
  if (capture && r.stderr) process.stderr.write(r.stderr);
  return r;
}

/** The variables of the local stack's `.spotferry/local.env` (written by `spotferry local up`). */
export function localEnv() {
  const env = {};
  for (const line of readFileSync(join(root, ".spotferry", "local.env"), "utf8").split("\n")) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, "$1");
  }
  return env;
}
