#!/usr/bin/env node
// `npm run bench [-- NAME...]`: brings the local stack up and runs the benchmarks under test/bench (scripts that print
// figures and ratios against a baseline measured in the same run; they assert nothing about time).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { build, ensureRuntime, localEnv, root, spotferry } from "./common.mjs";

ensureRuntime();
build();
// Bench names first, then flags for the benches: `npm run bench -- agent-export --rows 3000000`.
const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith("--"));
const wanted = firstFlag < 0 ? args : args.slice(0, firstFlag);
const passthrough = firstFlag < 0 ? [] : args.slice(firstFlag);
const up = spotferry(["local", "up"], { capture: true });
if (up.status !== 0) process.exit(up.status ?? 1);
const env = { ...process.env, ...localEnv() };
const benches = readdirSync(join(root, "test", "bench"))
  .filter((f) => f.endsWith(".bench.ts"))
  // A name that is a bench's whole name picks that one only (`export` is not also `agent-export`).
  .filter(
    (f, _, all) => wanted.length === 0 || wanted.some((w) => (all.includes(`${w}.bench.ts`) ? f === `${w}.bench.ts` : f.includes(w))),
  );
let status = 0;
for (const bench of benches) {
  process.stdout.write(`\n== ${bench}\n`);
  const r = spawnSync(process.execPath, [join("test", "bench", bench), ...passthrough], { cwd: root, env, stdio: "inherit" });
  if (r.status !== 0) status = r.status ?? 1;
}
process.exit(status);
