#!/usr/bin/env node
// `npm test`: installs what a fresh machine lacks (the locked npm tree, Node 24 with it), continues under Node 24,
// builds the CLI, brings the local stack up (or reuses it), runs lint and every test file with node's test runner,
// and stops the services it started itself. Plain JS so it runs before `npm install`, under the system Node.
//   npm test                     lint, test/fast and test/stack (the real services), side by side
//   npm run test:fast            test/fast alone: no service at all, under a minute
//   npm test -- FILE...          just those files (the stack is started when one of them is under test/stack)
import { spawn } from "node:child_process";
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
 * The longest stack files (clean-clone CI, 2 cores), started first: node --test keeps STACK_CONCURRENCY files running
 * and takes them in order, so one of these started last kept the suite going for minutes after the rest was done.
 */
const SLOW_FIRST = [
  "test/stack/readme-commands.test.ts",
  "test/stack/e2e-rehearsal.test.ts",
  "test/stack/chaos.test.ts",
  "test/stack/job-store.contract.test.ts",
  "test/stack/local-stack-lifecycle.test.ts",
  "test/stack/verify-content.test.ts",
  "test/stack/export-run.test.ts",
  "test/stack/query-export.test.ts",
];
/**
 * Stack files partly wait on the services and on the processes they start, so three at a time on 2 cores finish a
 * little sooner than two (clean-clone CI, the stack tier: 499-581 s against 579-642 s); none depends on a wall-clock
 * margin. The box is saturated either way: what shortens the suite now is less CPU per test.
 */
const STACK_CONCURRENCY = 3;
/**
 * The fast tier runs in FAST_GROUPS processes of its files one after another (`--test-isolation=none`): one process per
 * file spent most of the tier starting Node and loading the same modules again (81 s on 2 cores against 41 s).
 */
const FAST_GROUPS = 2;

const slowFirst = (stackFiles) => [
  ...SLOW_FIRST.filter((f) => stackFiles.includes(f)),
  ...stackFiles.filter((f) => !SLOW_FIRST.includes(f)),
];
/** The fast files that take seconds (each spawns CLIs or a sim), dealt out first so each group gets its share. */
const FAST_SLOW = [
  "test/fast/deploy-template.test.ts",
  "test/fast/cli-input.test.ts",
  "test/fast/sim-cli.test.ts",
  "test/fast/poison-local-starts.test.ts",
  "test/fast/verify-key-diff.test.ts",
  "test/fast/encode-types.parquet.test.ts",
];
/** Round-robin, the slow ones first. */
function groups(files, n) {
  const dealt = [...FAST_SLOW.filter((f) => files.includes(f)), ...files.filter((f) => !FAST_SLOW.includes(f))];
  return Array.from({ length: n }, (_, g) => dealt.filter((_, i) => i % n === g)).filter((g) => g.length > 0);
}

const isStack = (f) => relative(root, join(root, f)).startsWith(join("test", "stack"));
const fastFiles = only.length > 0 ? only.filter((f) => !isStack(f)) : findTests(join(root, "test", "fast"));
const stackFiles = only.length > 0 ? only.filter(isStack) : fast ? [] : findTests(join(root, "test", "stack"));
let weStarted = false;
let env = process.env;
if (stackFiles.length > 0) {
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
  // Lint runs beside the tests (20 s of tsc and Biome on 2 cores; its output is printed when it ends).
  const lint = skipLint ? null : held([process.execPath, join(root, "scripts", "lint.mjs")], { env: process.env, live: false });
  const withStack = stackFiles.length > 0;
  const runs = withStack ? [nodeTest([`--test-concurrency=${STACK_CONCURRENCY}`, ...slowFirst(stackFiles)], { env, live: true })] : [];
  // Beside the stack files the fast tier is one process (its output printed when it ends, not woven into theirs);
  // alone it is FAST_GROUPS, and the first one prints as it goes.
  for (const [i, g] of groups(fastFiles, withStack ? 1 : FAST_GROUPS).entries()) {
    runs.push(nodeTest(["--test-isolation=none", ...g], { env, live: !withStack && i === 0 }));
  }
  for (const code of await Promise.all(runs)) if (code !== 0) status = code || 1;
  if (lint && (await lint) !== 0) {
    process.stderr.write("npm test: lint failed (run `npm run format` to fix formatting)\n");
    status = 1;
  }
} finally {
  if (weStarted && !process.env.SPOTFERRY_KEEP_STACK) spotferry(["local", "down"], { capture: true });
}
process.exit(status);

/** `node --test` over ARGS; resolves with its exit code. */
function nodeTest(args, o) {
  return held([process.execPath, "--test", "--test-timeout=600000", "--test-reporter=spec", ...args], o);
}

/** Runs ARGV; resolves with its exit code. Not live: its output is held and printed when it ends. */
function held([command, ...args], o) {
  const child = spawn(command, args, { cwd: root, env: o.env, stdio: o.live ? "inherit" : ["ignore", "pipe", "pipe"] });
  const out = [];
  child.stdout?.on("data", (b) => out.push(b));
  child.stderr?.on("data", (b) => out.push(b));
  return new Promise((resolve) => {
    child.on("error", (err) => {
      process.stderr.write(`npm test: ${command} could not be started: ${err.message}\n`);
      resolve(1);
    });
    child.on("close", (code, signal) => {
      if (out.length > 0) process.stdout.write(Buffer.concat(out));
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}
