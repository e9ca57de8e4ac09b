#!/usr/bin/env node
// `npm test`: installs what a fresh machine lacks (the locked npm tree, Node 24 with it), continues under Node 24,
// builds the CLI, brings the local stack up (or reuses it), runs lint and every test file with node's test runner,
// and stops the services it started itself. Plain JS so it runs before `npm install`, under the system Node.
//   npm test                     lint, then test/fast and test/stack (the real services)
//   npm run test:fast            test/fast alone: no service at all, under a minute
//   npm test -- FILE...          just those files (the stack is started when one of them is under test/stack)
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { build, ensureRuntime, localEnv, RUNTIME_MAJOR, root, spotferry } from "./common.mjs";

ensureRuntime();

const args = process.argv.slice(2);
const fast = args.includes("--fast");
const skipLint = fast || args.includes("--no-lint");
const only = args.filter((a) => !a.startsWith("--"));

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out.sort();
}

if (Number(process.versions.node.split(".")[0]) !== RUNTIME_MAJOR) {
  process.stderr.write(`npm test: the tests must run under Node.js ${RUNTIME_MAJOR}, not ${process.version}\n`);
  process.exit(1);
}
build();

/**
 * The longest stack files (clean-clone CI, 2 cores), started first: node --test keeps two files running and takes them in
 * order, so one of these started last kept the suite going for minutes after the rest was done. The README test runs
 * beside the fast tier, whose files need no services.
 */
const SLOW_FIRST = [
  "test/stack/e2e-rehearsal.test.ts",
  "test/stack/chaos.test.ts",
  "test/stack/job-store.contract.test.ts",
  "test/stack/local-stack-lifecycle.test.ts",
  "test/stack/verify-content.test.ts",
  "test/stack/export-run.test.ts",
  "test/stack/query-export.test.ts",
];
const README_TEST = "test/stack/readme-commands.test.ts";

/** The fast tier, then the stack tier with its slowest files first; the README test before everything. */
function suiteOrder(fastFiles, stackFiles) {
  const slow = SLOW_FIRST.filter((f) => stackFiles.includes(f));
  const rest = stackFiles.filter((f) => f !== README_TEST && !slow.includes(f));
  return [...(stackFiles.includes(README_TEST) ? [README_TEST] : []), ...fastFiles, ...slow, ...rest];
}

const files =
  only.length > 0 ? only : suiteOrder(findTests(join(root, "test", "fast")), fast ? [] : findTests(join(root, "test", "stack")));
let weStarted = false;
let env = process.env;
if (files.some((f) => relative(root, join(root, f)).startsWith(join("test", "stack")))) {
  const up = spotferry(["local", "up"], { capture: true });
  if (up.status !== 0) {
    process.stderr.write("npm test: the local stack could not be started (see the message above)\n");
    process.exit(up.status ?? 1);
  }
  const started = /started: ([^;)]*)/.exec(up.stderr)?.[1]?.trim();
  weStarted = Boolean(started && started !== "none");
  env = { ...process.env, ...localEnv() };
}

let status = 0;
try {
  if (!skipLint) {
    const lint = spawnSync(process.execPath, [join(root, "scripts", "lint.mjs")], { cwd: root, stdio: "inherit" });
    if (lint.status !== 0) {
      process.stderr.write("npm test: lint failed (run `npm run format` to fix formatting)\n");
      status = 1;
    }
  }
  const run = spawnSync(process.execPath, ["--test", "--test-concurrency=2", "--test-timeout=600000", "--test-reporter=spec", ...files], {
    cwd: root,
    stdio: "inherit",
    env,
  });
  if (run.status !== 0) status = run.status ?? 1;
} finally {
  if (weStarted && !process.env.SPOTFERRY_KEEP_STACK) spotferry(["local", "down"], { capture: true });
}
process.exit(status);
