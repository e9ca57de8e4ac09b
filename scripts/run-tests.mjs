#!/usr/bin/env node
// `npm test`: installs what a fresh machine lacks, brings the local stack up (or reuses it), runs lint and every
// test file with node's test runner, and stops the services it started itself. Plain JS so it runs before `npm install`.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ensureNodeModules, root, spotferry } from "./common.mjs";

const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith("--"));
const skipLint = args.includes("--no-lint");

ensureNodeModules();

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== "bench" && name !== "fixtures") out.push(...findTests(p));
    } else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out.sort();
}

const up = spotferry(["local", "up"], { capture: true });
if (up.status !== 0) {
  process.stderr.write("npm test: the local stack could not be started (see the message above)\n");
  process.exit(up.status ?? 1);
}
const startedServices = /started: ([^;)]*)/.exec(up.stderr)?.[1]?.trim();
const weStarted = startedServices && startedServices !== "none";

let status = 0;
try {
  if (!skipLint) {
    const lint = spawnSync("npm", ["run", "--silent", "lint"], { cwd: root, stdio: "inherit" });
    if (lint.status !== 0) {
      process.stderr.write("npm test: lint failed (run `npm run format` to fix formatting)\n");
      status = 1;
    }
  }
  const env = { ...process.env };
  for (const line of readFileSync(join(root, ".spotferry", "local.env"), "utf8").split("\n")) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, "$1");
  }
  const files = only.length > 0 ? only : findTests(join(root, "test"));
  const run = spawnSync(
    process.execPath,
    ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=600000", "--test-reporter=spec", ...files],
    { cwd: root, stdio: "inherit", env },
  );
  if (run.status !== 0) status = run.status ?? 1;
} finally {
  if (weStarted && !process.env.SPOTFERRY_KEEP_STACK) spotferry(["local", "down"], { capture: true });
}
process.exit(status);
