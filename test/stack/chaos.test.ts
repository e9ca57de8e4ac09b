import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { formatChaosReport } from "../../sim/chaos/report.ts";
import { chaosControllerSettings, runChaos } from "../../sim/chaos/run.ts";
import { FAULT_KINDS, planSchedule } from "../../sim/chaos/schedule.ts";
import type { RehearsalNames } from "../../sim/rehearsal/setup.ts";
import { dropRehearsalState, rehearsalTestNames } from "../helpers/rehearsal-cleanup.ts";
import { testSim } from "../helpers/sim.ts";

/**
 * `npm run chaos`, small: a 20k-row table exported under 24 seeded faults of every kind (agent
 * SIGKILL and SIGSTOP past the lease, KILL CONNECTION of the export user's sessions, S3 and DynamoDB outages at the
 * sim's front doors, SIGKILL of the leading `controller run` process), in fleet mode on sim nodes. Nothing may be lost,
 * duplicated or left over, by `export verify` and by the independent read of every object against MariaDB. The clean
 * baseline export is left out (the same phase without faults), to stay near a minute.
 */
test("chaos: faults of every kind during a fleet export lose, duplicate and leave over nothing", { timeout: 240_000 }, async (t) => {
  // The schedule is the seed's: same seed, same faults in the same order; another seed, another order.
  assert.deepEqual(planSchedule({ seed: 5, faults: 24 }), planSchedule({ seed: 5, faults: 24 }));
  assert.notDeepEqual(planSchedule({ seed: 5, faults: 24 }), planSchedule({ seed: 6, faults: 24 }));
  const schedule = planSchedule({ seed: 5, faults: 24 });
  for (const k of FAULT_KINDS)
    assert.ok(
      schedule.some((f) => f.kind === k),
      `the schedule has a ${k}`,
    );

  const { sim } = await testSim(t, { timeScale: 0.1 });
  const bad = await fetch(`${sim.url}/_sim/outage`, { method: "POST", body: JSON.stringify({ service: "ec2", seconds: 1 }) });
  assert.equal(bad.status, 400, "an outage of a service without a front door is refused");
  const names = rehearsalTestNames("chaos");
  const logDir = mkdtempSync(join(tmpdir(), "spotferry-chaos-"));
  t.after(() => cleanUp(names, logDir));

  const lines: string[] = [];
  const report = await runChaos({
    names,
    data: { rows: 20_000, chunkRows: 1_000, targetRows: 2_500, maxRowsPerSecond: 800 },
    pool: { maxNodes: 3, instanceTypes: ["m5.large", "m6i.large", "c6i.large"], subnets: ["subnet-a", "subnet-b", "subnet-c"] },
    sim: { url: sim.url, env: sim.env },
    controller: chaosControllerSettings,
    seed: 5,
    faults: 24,
    skipClean: true,
    timeoutMs: 150_000,
    logDir,
    progressIntervalMs: 250,
    log: (line) => lines.push(line),
  }).catch((err) => {
    console.log(lines.slice(-80).join("\n"));
    throw err;
  });
  console.log(lines.filter((l) => !l.startsWith("chaos: ") || /SIGSTOP|SIGCONT|controller/.test(l)).join("\n"));
  console.log(formatChaosReport(report));
  console.log(`figures: ${JSON.stringify(report)}`);

  assert.equal(report.clean, null);
  const f = report.chaos;
  assert.equal(f.check.sourceRows, 20_000);
  assert.equal(f.check.lost, 0, `${f.exportId}: no row lost`);
  assert.equal(f.check.duplicated, 0, `${f.exportId}: no row duplicated`);
  assert.equal(f.check.foreign, 0, `${f.exportId}: no row that the source lacks`);
  assert.deepEqual(f.check.corrupt, [], `${f.exportId}: every object as the manifest says`);
  assert.deepEqual(f.check.orphans, [], `${f.exportId}: no orphan object left`);
  assert.equal(f.check.openUploads, 0, `${f.exportId}: no open multipart upload`);
  assert.deepEqual([f.verify.missing, f.verify.duplicated, f.verify.mismatched], [0, 0, 0], `${f.exportId}: export verify agrees`);
  assert.ok(report.ok);
  const injected = FAULT_KINDS.reduce((s, k) => s + report.faults.injected[k], 0);
  assert.ok(injected >= 20, `most planned faults were injected while work was in flight (${injected} of 24)`);
  assert.ok(report.faults.injected["mysql-kill"] > 0 && report.faults.injected["s3-outage"] > 0, "sessions were killed, S3 went down");
  assert.ok(report.faults.injected["agent-kill"] > 0, "an agent was SIGKILLed");
  // The outages happened at the sim's doors, and the fleet's calls ran into them.
  type Outages = { active: { calls: number }[]; past: { calls: number }[] };
  const { outages } = (await (await fetch(`${sim.url}/_sim/status`)).json()) as { outages: Outages };
  const all = [...outages.active, ...outages.past];
  assert.equal(all.length, report.faults.injected["s3-outage"] + report.faults.injected["dynamodb-outage"]);
  assert.ok(
    all.some((o) => o.calls > 0),
    "calls of the fleet were refused or hung",
  );
});

async function cleanUp(names: RehearsalNames, logDir: string) {
  try {
    await dropRehearsalState(names);
  } finally {
    rmSync(logDir, { recursive: true, force: true });
  }
}
