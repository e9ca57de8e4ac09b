import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { loadConfigFile } from "../../config/load.ts";
import type { EventRecord } from "../../config/records.ts";
import { localPoolName } from "../../controller/local/local-views.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { systemClock } from "../../lib/clock.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { repoRoot } from "../../sim/stack/stack.ts";
import { type ExportFixture, exportFixture } from "../helpers/export-fixture.ts";

// `export run --local` replaces a killed agent through the controller's reconcilers, not a loop of its own: the kill is
// seen by the interruption reconciler (the agent's process is gone), which revokes the lease in the ledger as the
// controller's act and counts the interruption on the local pool, and provisioning launches the replacement. The
// lease is 60 s, so the lease reaper cannot be what frees the partition: the run finishes long before it expires.

let fx: ExportFixture;
before(async () => {
  fx = await exportFixture({ rows: 60_000, format: "ndjson", chunkRows: 5_000, targetRows: 20_000 });
});
after(() => fx.cleanup());

const cli = [join(repoRoot, "bin", "spotferry.mjs")];
const exec = promisify(execFile);

async function agents(): Promise<Map<string, number>> {
  const { stdout } = await exec("pgrep", ["-af", `agent run .*--state-table ${fx.tableName}`]).catch(() => ({ stdout: "" }));
  const out = new Map<string, number>();
  for (const line of stdout.split("\n").filter(Boolean)) {
    const node = / --node-id (\S+)/.exec(line)?.[1];
    if (node) out.set(node, Number(line.split(" ")[0]));
  }
  return out;
}

async function events(exportId: string, partitions: number): Promise<EventRecord[]> {
  const out: EventRecord[] = [];
  for (let p = 0; p < partitions; p++) out.push(...(await fx.store.listEvents(exportId, p, { limit: 200 })).items);
  return out;
}

test("a SIGKILLed local agent is revoked and replaced by the controller's reconcilers, not by lease expiry", async () => {
  const input = JSON.parse(readFileSync(fx.specFile, "utf8"));
  input.source.maxRowsPerSecond = 5_000;
  writeFileSync(fx.specFile, JSON.stringify(input));
  const spec = await loadConfigFile(fx.specFile, "Export");
  const conn = await openSource(spec.source);
  const plan = await planExport(spec, { conn, clock: systemClock }).finally(() => conn.end());
  const exportId = exportIdFor(spec);
  const { export: record } = await fx.store.createExport(toNewExport(exportId, spec, plan));
  // A gate, as in export-run.test.ts: the run cannot finish before the kill however fast the machine is.
  const gate = await fx.store.claimPartition(exportId, record.partitionCount - 1, {
    pool: spec.pool,
    owner: "test-gate",
    leaseMs: 600_000,
  });
  assert.ok(gate);

  const t0 = Date.now();
  const run = spawn(
    process.execPath,
    [...cli, "export", "run", "--config", fx.specFile, "--local", "--workers", "2", "--lease", "60", "--json"],
    { env: { ...process.env, SPOTFERRY_STATE_TABLE: fx.tableName, SPOTFERRY_HOME: fx.dir }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  run.stdout.on("data", (d) => (stdout += d));
  run.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number>((resolve) => run.on("exit", (code) => resolve(code ?? -1)));

  let victim: string | undefined;
  let killedAt = 0;
  while (!victim && run.exitCode === null) {
    const progress = await fx.store.progress(exportId);
    const busy = [...(await agents())].filter(([node]) => progress.owners[node]);
    if (progress.total.chunks >= 1 && busy.length > 0) {
      const [node, pid] = busy[0]!;
      process.kill(pid, "SIGKILL");
      victim = node;
      killedAt = Date.now();
    } else await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(victim, `an agent was killed mid-partition:\n${stderr.slice(-2000)}`);
  // The gate goes once the controller has taken the victim's partition back, so the run ends on the replacement.
  for (let i = 0; i < 200 && !(await events(exportId, record.partitionCount)).some((e) => e.kind === "revoked"); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await fx.store.release(gate);
  const code = await exited;
  if (process.env.SPOTFERRY_TEST_LOG) process.stderr.write(readFileSync(join(fx.dir, "logs", exportId, "controller.log"), "utf8"));
  assert.equal(code, 0, `export run failed:\n${stderr.slice(-2000)}`);
  const result = JSON.parse(stdout) as { rows: number; agentsDied: number; leasesReaped: number; leasesRevoked: number; localPool: string };
  assert.equal(result.rows, 60_000);
  assert.ok(Date.now() - t0 < 60_000, "finished before the victim's lease could have expired");

  const revoked = (await events(exportId, record.partitionCount)).filter((e) => e.kind === "revoked");
  assert.equal(revoked.length, 1, "exactly the victim's lease was taken back");
  const [r] = revoked;
  assert.equal(r!.formerOwner, victim);
  assert.match(r!.node ?? "", /:local$/, "taken back by the run's controller");
  assert.equal(r!.interrupted, true);
  assert.match(r!.detail ?? "", /killed by SIGKILL/);
  assert.ok(Date.parse(r!.at) - killedAt < 10_000, "revoked within seconds of the kill");
  assert.deepEqual([result.leasesRevoked, result.leasesReaped, result.agentsDied], [1, 0, 1]);

  const fleet = new DynamoFleetStore({ client: fx.ddb, tableName: fx.tableName, clock: systemClock });
  const pool = await fleet.getPool(localPoolName(spec.pool));
  assert.equal(result.localPool, pool?.pool);
  assert.equal(pool?.interruptions, 1, "the interruption is counted on the local pool");
  assert.ok((pool?.replacements ?? 0) >= 1, "provisioning launched the replacement");
  const nodes = await fleet.listNodes(pool!.pool);
  assert.ok(nodes.length >= 3, `two agents and a replacement were launched: ${nodes.map((n) => n.instanceId).join(", ")}`);
  assert.deepEqual([...new Set(nodes.map((n) => n.lifecycle))], ["TERMINATED"], "every node is recorded as stopped");
  assert.match(nodes.find((n) => n.instanceId === victim)?.reason ?? "", /killed by SIGKILL/);
  assert.equal(await fleet.getLeader(), null, "the table's controller lease was never taken by the local run");
  assert.deepEqual([...(await agents()).keys()], [], "no agent left running");
});
