import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runLocalFleet } from "../../controller/local/local-fleet.ts";
import { localPoolName } from "../../controller/local/local-views.ts";
import { MemoryFleetStore } from "../../controller/store/memory-fleet-store.ts";
import { systemClock } from "../../lib/clock.ts";
import type { Lease } from "../../lib/jobs/job-store.ts";
import { MemoryJobStore } from "../../lib/jobs/memory-job-store.ts";
import { plan } from "../contract/job-store.contract.ts";
import { waitFor } from "../helpers/wait.ts";

// The local run's one path, without a service: the controller's reconcilers over in-memory stores and a
// LocalCloudProvider whose "agents" are a script that only announces itself. The test claims for them (a real lease
// under the node's id, as the agent would), kills one with SIGKILL, and the reconcilers must take its lease back and
// launch its replacement; the run then ends once the test has completed every partition as the replacement.

const dir = mkdtempSync(join(tmpdir(), "spotferry-local-fleet-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const script = join(dir, "announce.mjs");
writeFileSync(
  script,
  `import { writeFileSync } from "node:fs";
const node = process.argv[process.argv.indexOf("--node-id") + 1];
process.on("SIGTERM", () => process.exit(0));
writeFileSync(process.env.ANNOUNCE_DIR + "/" + node + ".pid", String(process.pid));
setInterval(() => {}, 1000);
`,
);

/** Agents that wrote their pid (a file still being written is not listed: a pid of 0 would be the process group). */
const announced = () =>
  readdirSync(join(dir, "pids"))
    .map((f) => ({ node: f.replace(/\.pid$/, ""), pid: Number(readFileSync(join(dir, "pids", f), "utf8")) }))
    .filter((a) => Number.isInteger(a.pid) && a.pid > 0);
// Bounded only so a broken run ends with a message before the runner's own timeout.
const UNTIL_READY_MS = 60_000;

test("a killed local agent's lease is revoked by the interruption reconciler and provisioning replaces it", async () => {
  const jobs = new MemoryJobStore({ clock: systemClock });
  const fleet = new MemoryFleetStore({ clock: systemClock });
  const input = plan(2);
  await jobs.createExport(input);
  const claimPool = input.spec.pool;
  mkdirSync(join(dir, "pids"));
  const logDir = join(dir, "logs");
  const run = runLocalFleet({
    jobs,
    fleet,
    clock: systemClock,
    exportId: input.exportId,
    claimPool,
    stateTable: "memory-state",
    workers: 1,
    agentCommand: [process.execPath, script],
    leaseSeconds: 60,
    logDir,
    env: { ...process.env, ANNOUNCE_DIR: join(dir, "pids") },
  });

  const { node: first, pid } = await waitFor("the first agent", () => announced()[0], UNTIL_READY_MS);
  const lease = await jobs.claim({ pool: claimPool, owner: first, leaseMs: 60_000 });
  assert.ok(lease, "the agent's pool is the spec's: its partitions are claimable under the node's id");
  process.kill(pid, "SIGKILL");

  const second = await waitFor("the replacement", () => announced().find((a) => a.node !== first)?.node, UNTIL_READY_MS);
  const events = (await jobs.listEvents(input.exportId, lease.partition)).items;
  const revoked = events.find((e) => e.kind === "revoked");
  assert.equal(revoked?.formerOwner, first, "the controller took the lease back before the replacement came");
  assert.match(revoked?.node ?? "", /:local$/);
  assert.match(revoked?.detail ?? "", /killed by SIGKILL/);

  // The replacement finishes both partitions (the revoked one first, from the resume queue).
  for (;;) {
    const next: Lease | null = await jobs.claim({ pool: claimPool, owner: second, leaseMs: 60_000 });
    if (!next) break;
    await jobs.complete(next);
  }
  const result = await run;
  assert.equal(result.done, true, result.reason);
  assert.deepEqual(
    [result.agentsStarted, result.agentsDied, result.revoked, result.reaped, result.pool],
    [2, 1, 1, 0, localPoolName(claimPool)],
  );
  const pool = await fleet.getPool(result.pool);
  assert.deepEqual([pool?.interruptions, pool?.replacements, pool?.spec.capacity.max], [1, 1, 1]);
  const nodes = await fleet.listNodes(result.pool);
  assert.deepEqual(
    nodes.map((n) => [n.instanceId, n.lifecycle, n.market, n.price]),
    [first, second].sort().map((id) => [id, "TERMINATED", "on-demand", 0]),
  );
  assert.equal(await fleet.getLeader(), null, "the store's controller lease is not the local run's");
  assert.ok(existsSync(join(logDir, "controller.log")));
});
