import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { repoRoot } from "../../sim/stack/stack.ts";
import { type ExportFixture, exportFixture } from "../helpers/export-fixture.ts";

// The local run end to end through the CLI: agents are SIGKILLed at random mid-run, the runner replaces them and
// reaps their leases, and `export verify` then finds every source row exactly once.

let fx: ExportFixture;
before(async () => {
  fx = await exportFixture({ rows: 150_000, format: "parquet", chunkRows: 5_000, targetRows: 25_000 });
});
after(() => fx.cleanup());

const cli = [join(repoRoot, "bin", "spotferry.mjs")];
const env = () => ({ ...process.env, SPOTFERRY_STATE_TABLE: fx.tableName, SPOTFERRY_HOME: fx.dir });

/** Pids of this test's agent processes (they carry the test's own state table on their command line). */
async function agentPids(): Promise<number[]> {
  const { stdout } = await promisify(execFile)("pgrep", ["-f", `agent run .*--state-table ${fx.tableName}`]).catch(() => ({ stdout: "" }));
  return stdout.split("\n").filter(Boolean).map(Number);
}

test("export run --local survives agents killed with SIGKILL, and verify finds every row exactly once", async () => {
  // Throttled so the run lasts long enough to kill agents in the middle of chunks.
  const spec = { ...JSON.parse((await import("node:fs")).readFileSync(fx.specFile, "utf8")) };
  spec.source.maxRowsPerSecond = 15_000;
  (await import("node:fs")).writeFileSync(fx.specFile, JSON.stringify(spec));

  const run = spawn(
    process.execPath,
    [...cli, "export", "run", "--config", fx.specFile, "--local", "--workers", "3", "--lease", "3", "--json"],
    {
      env: env(),
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  run.stdout.on("data", (d) => (stdout += d));
  run.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number>((resolve) => run.on("exit", (code) => resolve(code ?? -1)));

  let kills = 0;
  for (let i = 0; i < 60 && kills < 3 && run.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const pids = await agentPids();
    if (i >= 2 && pids.length > 0) {
      process.kill(pids[Math.floor(Math.random() * pids.length)]!, "SIGKILL");
      kills++;
    }
  }
  const code = await exited;
  assert.equal(code, 0, `export run failed:\n${stderr.slice(-2000)}`);
  assert.equal(kills, 3, "three agents were killed during the run");
  const result = JSON.parse(stdout) as { exportId: string; rows: number; agentsDied: number; leasesReaped: number };
  assert.equal(result.rows, 150_000);
  assert.ok(result.agentsDied >= 3);

  const verify = await promisify(execFile)(process.execPath, [...cli, "export", "verify", result.exportId, "--json"], { env: env() });
  const report = JSON.parse(verify.stdout) as { rows: number; missing: number; duplicated: number; mismatched: unknown[] };
  assert.deepEqual([report.rows, report.missing, report.duplicated, report.mismatched.length], [150_000, 0, 0, 0]);
  assert.deepEqual(await agentPids(), [], "no agent left running");
});
