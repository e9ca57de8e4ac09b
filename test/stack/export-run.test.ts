import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { loadConfigFile } from "../../config/load.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import { systemClock } from "../../lib/clock.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { repoRoot } from "../../sim/stack/stack.ts";
import { type ExportFixture, exportFixture } from "../helpers/export-fixture.ts";

// The local run end to end through the CLI: agents are SIGKILLed mid-run, the controller's reconcilers take their
// leases back and replace them (export-run-reconcilers.test.ts shows which reconciler does what), and `export verify`
// then finds every source row exactly once.
//
// Kills are driven by the store's state, never by elapsed time: the k-th agent dies once 3k of the 30 chunks are
// committed, and the test holds one partition itself (a real lease, as any claimer would) until the third kill, so
// the run cannot finish first however fast or loaded the machine is.

let fx: ExportFixture;
before(async () => {
  fx = await exportFixture({ rows: 150_000, format: "parquet", chunkRows: 5_000, targetRows: 25_000 });
});
after(() => fx.cleanup());

const cli = [join(repoRoot, "bin", "spotferry.mjs")];
const env = () => ({ ...process.env, SPOTFERRY_STATE_TABLE: fx.tableName, SPOTFERRY_HOME: fx.dir });
const exec = promisify(execFile);

/** This test's agent processes (their command line carries its own state table), by node id. */
async function agents(): Promise<Map<string, number>> {
  const { stdout } = await exec("pgrep", ["-af", `agent run .*--state-table ${fx.tableName}`]).catch(() => ({ stdout: "" }));
  const out = new Map<string, number>();
  for (const line of stdout.split("\n").filter(Boolean)) {
    const node = / --node-id (\S+)/.exec(line)?.[1];
    if (node) out.set(node, Number(line.split(" ")[0]));
  }
  return out;
}

test("export run --local survives agents killed with SIGKILL, and verify finds every row exactly once", async () => {
  // Throttled so that an agent is always in the middle of a chunk when it is killed.
  const input = JSON.parse(readFileSync(fx.specFile, "utf8"));
  input.source.maxRowsPerSecond = 15_000;
  writeFileSync(fx.specFile, JSON.stringify(input));
  // Planned here, from the file as the CLI reads it (same export id), so the gate is claimed before any agent runs;
  // `export run` then resumes this plan.
  const spec = await loadConfigFile(fx.specFile, "Export");
  const conn = await openSource(spec.source);
  const plan = await planExport(spec, { conn, clock: systemClock }).finally(() => conn.end());
  const exportId = exportIdFor(spec);
  const { export: record } = await fx.store.createExport(toNewExport(exportId, spec, plan));
  const gate = await fx.store.claimPartition(exportId, record.partitionCount - 1, {
    pool: spec.pool,
    owner: "test-gate",
    leaseMs: 600_000,
  });
  assert.ok(gate, "the gate holds the last partition before any agent starts");

  const run = spawn(
    process.execPath,
    [...cli, "export", "run", "--config", fx.specFile, "--local", "--workers", "3", "--lease", "3", "--json"],
    { env: env(), stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  run.stdout.on("data", (d) => (stdout += d));
  run.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number>((resolve) => run.on("exit", (code) => resolve(code ?? -1)));

  // Each kill hits an agent that holds a lease, so it dies mid-partition rather than between two.
  let kills = 0;
  while (kills < 3 && run.exitCode === null) {
    const progress = await fx.store.progress(exportId);
    if (progress.total.chunks >= 3 * (kills + 1)) {
      const busy = [...(await agents())].filter(([node]) => progress.owners[node]);
      if (busy.length > 0) {
        process.kill(busy[Math.floor(Math.random() * busy.length)]![1], "SIGKILL");
        kills++;
        continue;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await fx.store.release(gate);
  const code = await exited;
  assert.equal(code, 0, `export run failed:\n${stderr.slice(-2000)}`);
  assert.equal(kills, 3, "three agents were killed during the run");
  const result = JSON.parse(stdout) as { exportId: string; rows: number; agentsDied: number; leasesReaped: number };
  assert.equal(result.exportId, exportId, "the run resumed the plan the gate was claimed on");
  assert.equal(result.rows, 150_000);
  assert.ok(result.agentsDied >= 3);

  const verify = await exec(process.execPath, [...cli, "export", "verify", result.exportId, "--config", fx.specFile, "--json"], {
    env: env(),
  });
  const report = JSON.parse(verify.stdout) as { rows: number; missing: number; duplicated: number; mismatched: unknown[] };
  assert.deepEqual([report.rows, report.missing, report.duplicated, report.mismatched.length], [150_000, 0, 0, 0]);
  assert.deepEqual([...(await agents()).keys()], [], "no agent left running");
});
