import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { cliBin } from "../../lib/paths.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/**
 * What one CLI process costs, next to `node -e 0` in the same run (the floor any Node program pays): `--version`,
 * `--help`, and `status` on an empty state table (DynamoDB Local: one table scan per read model). Median wall time of
 * --runs, after one warm-up run each (which fills V8's compile cache, as any second call of the day would).
 * Targets from the issue: `--help` <= 4x `node -e 0`, `status` <= 10x. A script printing figures: it asserts nothing.
 *   npm run bench -- cli-startup [--runs 15]
 */
const { values } = parseArgs({ options: { runs: { type: "string", default: "15" } } });
const RUNS = Number(values.runs);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function time(args: string[], expectStatus: number): number {
  const runs: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const start = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (r.status !== expectStatus) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    if (i > 0) runs.push(ms);
  }
  return median(runs);
}

const t = await tempStateTable("cli-bench");
try {
  // Interleaved rounds would be fairer under load; a median over many runs is close enough and simpler to read.
  const floor = time(["-e", "0"], 0);
  const rows: [string, number, number | undefined][] = [
    ["node -e 0", floor, undefined],
    ["spotferry --version", time([cliBin, "--version"], 0), undefined],
    ["spotferry --help", time([cliBin, "--help"], 0), 4],
    ["spotferry status (empty store)", time([cliBin, "status", "--state-table", t.tableName], 0), 10],
  ];
  console.log(`median of ${RUNS} runs, Node ${process.version}`);
  for (const [name, ms, target] of rows) {
    const ratio = ms / floor;
    const verdict = target === undefined ? "" : ratio <= target ? `  (target <= ${target}x: met)` : `  (target <= ${target}x: MISSED)`;
    console.log(`  ${name.padEnd(32)} ${ms.toFixed(1).padStart(8)} ms  ${ratio.toFixed(2).padStart(6)}x${verdict}`);
  }
} finally {
  await t.drop();
}
