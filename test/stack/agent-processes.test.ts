import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, test } from "node:test";
import type { ExportRecord } from "../../config/records.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import { systemClock } from "../../lib/clock.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { cliBin } from "../../lib/paths.ts";
import { type ExportFixture, exportFixture } from "../helpers/export-fixture.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * `agent run --processes N`: one agent per core on a node. Every process claims its own partitions (log tags
 * [k/N]); SIGTERM to the supervisor reaches every child, which commits its chunk and releases; a supervisor killed
 * outright leaves no child behind working (each drains when its IPC channel closes).
 */
let fx: ExportFixture;
let record: ExportRecord;

before(async () => {
  fx = await exportFixture({ rows: 24_000, chunkRows: 1_000, targetRows: 6_000 });
  // Slow enough that a signal lands mid-partition, whatever the machine's load.
  fx.spec = { ...fx.spec, source: { ...fx.spec.source, maxRowsPerSecond: 4_000 } };
  const conn = await openSource(fx.spec.source);
  try {
    const plan = await planExport(fx.spec, { conn, clock: systemClock });
    record = (await fx.store.createExport(toNewExport(exportIdFor(fx.spec), fx.spec, plan))).export;
  } finally {
    await conn.end();
  }
});
after(() => fx?.cleanup());

function startAgent(nodeId: string, processes: number): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const args = [cliBin, "agent", "run", "--no-imds", "--node-id", nodeId, "--pool", fx.spec.pool, "--state-table", fx.tableName];
  const child = spawn(process.execPath, [...args, "--processes", String(processes), "--idle-exit", "1s", "--lease", "20s"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stdout?.on("data", (d) => (text += d));
  child.stderr?.on("data", (d) => (text += d));
  const exit = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return { child, output: () => text, exit };
}

const leasedBy = async (owner: string, o: { committed?: boolean } = {}) =>
  (await fx.store.listPartitions(record.exportId)).items.filter(
    (p) => p.state === "LEASED" && p.owner === owner && (!o.committed || p.rows > 0),
  ).length;

test("SIGTERM to the supervisor drains every process: each commits its chunk and releases", async () => {
  const agent = startAgent("node-term", 2);
  // Past a first commit each: what they release then carries chunks, whenever the signal lands.
  await waitFor("both processes to commit a chunk", async () => (await leasedBy("node-term", { committed: true })) === 2, 60_000);
  agent.child.kill("SIGTERM");
  assert.equal(await agent.exit, 0, agent.output());
  assert.match(agent.output(), /\[1\/2\] stopping \(SIGTERM\)/);
  assert.match(agent.output(), /\[2\/2\] stopping \(SIGTERM\)/);
  const parts = (await fx.store.listPartitions(record.exportId)).items;
  assert.equal(parts.filter((p) => p.state === "LEASED").length, 0, "nothing left leased");
  assert.ok(
    parts.some((p) => p.state === "PENDING" && p.rows > 0),
    "a released partition kept its committed chunks",
  );
});

test("a supervisor killed outright leaves no process working; a new agent of two processes finishes the export", async () => {
  const killed = startAgent("node-kill", 2);
  await waitFor("both processes to hold a partition", async () => (await leasedBy("node-kill")) === 2, 60_000);
  killed.child.kill("SIGKILL");
  // The children hold the output pipes: the close comes once they too have drained and exited.
  await killed.exit;
  assert.match(killed.output(), /stopping \(the supervising agent process is gone\)/);
  assert.equal(await leasedBy("node-kill"), 0, "every child released what it held");

  const agent = startAgent("node-done", 2);
  assert.equal(await agent.exit, 0, agent.output());
  const parts = (await fx.store.listPartitions(record.exportId)).items;
  assert.deepEqual(
    parts.map((p) => p.state),
    parts.map(() => "DONE"),
  );
  assert.equal(
    parts.reduce((n, p) => n + p.rows, 0),
    24_000,
  );
  for (const k of ["1/2", "2/2"]) assert.match(agent.output(), new RegExp(`\\[${k}\\] claimed partition`), `process ${k} worked`);
});
