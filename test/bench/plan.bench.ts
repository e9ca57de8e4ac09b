/**
 * Planning a large skewed table: the estimating planner (controller/planner/estimate.ts) against the exact index walk
 * (walkBoundaries) and against the table's own `SELECT COUNT(*)`, interleaved in one run, then the true size of
 * every planned partition (a COUNT over its range, through the agent's range predicates).
 * The table is the generated call log (sim/data/call-log.ts: 70% dense ids, 25% one per 1000 from 10^12, ids past
 * 2^53 and a cluster just under 2^64), kept in database bench_plan and reused while its row count matches.
 * Usage: node test/bench/plan.bench.ts [--rows N] [--target-rows N,N] (prints figures; asserts nothing)
 */
import { loadavg } from "node:os";
import { exportSpec } from "../../config/export-spec.ts";
import { type ExportPlan, planExport } from "../../controller/planner/plan.ts";
import { systemClock } from "../../lib/clock.ts";
import { openSource, queryText } from "../../lib/mysql/connect.ts";
import { rangePredicate } from "../../lib/mysql/key-sql.ts";
import { createCallLog } from "../../sim/data/call-log.ts";
import { stackSource } from "../helpers/env.ts";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] as string) : dflt;
};
const rows = Number(arg("rows", "10000000"));
const targets = arg("target-rows", "2000000,500000").split(",").map(Number);
const database = "bench_plan";
const table = "call_log";
const spec = (targetRows: number) =>
  exportSpec.parse({
    kind: "Export",
    name: "plan-bench",
    source: stackSource(database, table),
    destination: { bucket: "bench-plan" },
    partitioning: { targetRows },
  });
const conn = await openSource(spec(targets[0] as number).source);
const fq = `\`${database}\`.\`${table}\``;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

async function timed<T>(body: () => Promise<T>): Promise<{ s: number; value: T }> {
  const t0 = performance.now();
  const value = await body();
  return { s: (performance.now() - t0) / 1000, value };
}
const count = () => timed(async () => Number((await queryText(conn, { sql: `SELECT COUNT(*) FROM ${fq}`, params: [] }))[0]?.[0]));
const plan = (targetRows: number, exactWalkMaxRows?: number) =>
  timed(() => planExport(spec(targetRows), { conn, clock: systemClock, ...(exactWalkMaxRows === undefined ? {} : { exactWalkMaxRows }) }));

async function trueSizes(p: ExportPlan): Promise<number[]> {
  const out: number[] = [];
  for (const part of p.partitions) {
    const where = rangePredicate(p.keyColumns, { lo: part.lo, hi: part.hi, highWatermark: p.highWatermark });
    out.push(Number((await queryText(conn, { sql: `SELECT COUNT(*) FROM ${fq} WHERE ${where.sql}`, params: where.params }))[0]?.[0]));
  }
  return out;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number;

try {
  console.log(`load before: ${load()}`);
  await conn.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  const have = await queryText(conn, {
    sql: "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
    params: [database, table],
  });
  const existing = have[0]?.[0] === "1" ? (await count()).value : 0;
  if (existing !== rows) {
    console.log(`generating ${rows} rows in ${fq} (had ${existing})`);
    await createCallLog(conn, { database, table, rows });
  }
  await count(); // warm-up: the buffer pool; not reported
  const counts: number[] = [];
  const runs: { name: string; targetRows: number; s: number; plan: ExportPlan }[] = [];
  // Interleaved: COUNT(*), then each planner mode, twice; the best of each is compared.
  for (let round = 0; round < 2; round++) {
    const c = await count();
    if (c.value !== rows) throw new Error(`COUNT(*) gave ${c.value}, expected ${rows}`);
    counts.push(c.s);
    for (const targetRows of targets) {
      const est = await plan(targetRows);
      runs.push({ name: "estimate", targetRows, s: est.s, plan: est.value });
      const walk = await plan(targetRows, Number.POSITIVE_INFINITY);
      runs.push({ name: "exact walk", targetRows, s: walk.s, plan: walk.value });
    }
  }
  const countS = Math.min(...counts);
  console.log(`rows ${rows}; SELECT COUNT(*) best of 2: ${countS.toFixed(3)} s (${counts.map((s) => s.toFixed(3)).join(", ")})`);
  console.log(
    `${"planner".padEnd(11)} ${"targetRows".padStart(10)} ${"best s".padStart(7)} ${"vs COUNT".padStart(8)} ${"parts".padStart(5)} ${"probes".padStart(6)} ${"dives".padStart(6)} ${"max/med".padStart(7)} ${"min/med".padStart(7)} est/true rows`,
  );
  for (const name of ["estimate", "exact walk"]) {
    for (const targetRows of targets) {
      const mine = runs.filter((r) => r.name === name && r.targetRows === targetRows);
      const best = mine.reduce((a, b) => (b.s < a.s ? b : a));
      const sizes = await trueSizes(best.plan);
      const med = median(sizes);
      const sum = sizes.reduce((a, b) => a + b, 0);
      console.log(
        `${name.padEnd(11)} ${String(targetRows).padStart(10)} ${best.s.toFixed(3).padStart(7)} ${`${(best.s / countS).toFixed(3)}x`.padStart(8)} ${String(sizes.length).padStart(5)} ${String(best.plan.probes).padStart(6)} ${String(best.plan.dives).padStart(6)} ${(Math.max(...sizes) / med).toFixed(3).padStart(7)} ${(Math.min(...sizes) / med).toFixed(3).padStart(7)} ${(best.plan.rows / sum).toFixed(3)} (sum of true ${sum})`,
      );
    }
  }
  console.log(`load after: ${load()}`);
} finally {
  await conn.end();
}
