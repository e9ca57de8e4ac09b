#!/usr/bin/env node
// The operator CLI: runs the build in dist/ (scripts/build.mjs). In a checkout the build is redone first when a source
// is newer than it, so `npx spotferry` after an edit runs the edit. Nodes do not use this: they run the agent bundle.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import module from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const RUNTIME_MAJOR = 24;
const major = Number(process.versions.node.split(".")[0]);
if (major < RUNTIME_MAJOR) {
  process.stderr.write(
    `error: spotferry needs Node.js ${RUNTIME_MAJOR}, this is ${process.version}; ` +
      "`npm test` or `npm run demo` installs it into node_modules (run node_modules/.bin/spotferry from an npm script, or put node_modules/.bin first on PATH)\n",
  );
  process.exit(3);
}
// V8's code cache on disk: a CLI started many times a minute (tests, scripts, watch loops) skips most compiling.
module.enableCompileCache?.();

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// A checkout (sim/ beside bin/) runs the CLI with the local rehearsal's commands; what ships runs the production one.
const entry = join(root, "dist", existsSync(join(root, "sim")) ? "spotferry-dev.mjs" : "spotferry.mjs");
const SOURCES = ["agent", "bootstrap", "config", "controller", "lib", "sim", "package.json"];

function newestSource() {
  let newest = 0;
  const visit = (p) => {
    const s = statSync(p, { throwIfNoEntry: false });
    if (!s) return;
    if (s.isDirectory()) for (const name of readdirSync(p)) visit(join(p, name));
    else if (s.mtimeMs > newest && (p.endsWith(".ts") || p.endsWith(".json"))) newest = s.mtimeMs;
  };
  for (const s of SOURCES) visit(join(root, s));
  return newest;
}

const builder = join(root, "scripts", "build.mjs");
if (existsSync(builder) && (!existsSync(entry) || statSync(entry).mtimeMs < newestSource())) {
  const r = spawnSync(process.execPath, [builder], { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) process.exit(1);
}
const { main } = await import(entry);
await main(process.argv);
