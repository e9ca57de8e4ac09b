import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runLocalFleet } from "../../controller/local/local-fleet.ts";
import { MemoryFleetStore } from "../../controller/store/memory-fleet-store.ts";
import { systemClock } from "../../lib/clock.ts";
import { MemoryJobStore } from "../../lib/jobs/memory-job-store.ts";
import { plan } from "../contract/job-store.contract.ts";

// Issue 14: `export run --local --lease abc` respawned agents for ever (each exited 2 on `--lease NaNs`). Agents that
// keep failing at start now stop the run after a bounded number of failed starts, with the agents' own error line.
// The "agent" here is a script that fails the way a bad flag, a missing state table or an unreachable DynamoDB does.

const dir = mkdtempSync(join(tmpdir(), "spotferry-start-failures-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

async function run(agent: string, workers: number) {
  const jobs = new MemoryJobStore({ clock: systemClock });
  const input = plan(2);
  await jobs.createExport(input);
  const logDir = join(dir, `logs-${workers}-${input.exportId}`);
  const result = await runLocalFleet({
    jobs,
    fleet: new MemoryFleetStore({ clock: systemClock }),
    clock: systemClock,
    exportId: input.exportId,
    claimPool: input.spec.pool,
    stateTable: "memory-state",
    workers,
    agentCommand: [process.execPath, agent],
    leaseSeconds: 15,
    logDir,
  });
  return { result, logs: readdirSync(logDir).filter((f) => f !== "controller.log") };
}

test("agents that keep failing at start stop the local run with their error, after a bounded number of starts", {
  timeout: 120_000,
}, async () => {
  const failing = script(
    "fails.mjs",
    'process.stderr.write("error: --lease: expected a duration such as 90s or 2m, got \\"abc\\"\\n"); process.exit(2);\n',
  );
  const { result, logs } = await run(failing, 2);
  assert.equal(result.done, false);
  const said = /^its agents failed to start (\d+) times in a row; the last said: error: --lease: expected a duration/.exec(
    result.reason ?? "",
  );
  assert.ok(said, result.reason);
  assert.doesNotMatch(result.reason ?? "", /\n/, "one line");
  // The limit is two rounds of workers: at most one more round may have been launched while the last ones failed, and
  // the deaths the run reads at one check are all counted (4, or 5 when the next one had died by then).
  assert.ok(result.agentsStarted >= 4 && result.agentsStarted <= 6, `started ${result.agentsStarted}`);
  assert.ok(Number(said[1]) >= 4 && Number(said[1]) <= result.agentsStarted, said[0]);
  assert.equal(logs.length, result.agentsStarted);
});

test("an agent that crashes before its first claim (its module is missing) is a failed start too", { timeout: 120_000 }, async () => {
  const { result } = await run(join(dir, "missing-dir", "nothing.mjs"), 1);
  assert.equal(result.done, false);
  assert.match(result.reason ?? "", /^its agents failed to start 3 times in a row; the last said: .*Cannot find module/);
});
