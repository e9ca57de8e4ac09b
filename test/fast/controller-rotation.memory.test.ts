import assert from "node:assert/strict";
import { test } from "node:test";
import { toLease } from "../../lib/jobs/items.ts";
import { chunk } from "../contract/job-store.contract.ts";
import { type MemoryFixture, memoryControllerFixture } from "../helpers/memory-controller-fixture.ts";

/**
 * Rotation, scale-down and the end of drains with no service. test/stack/controller-rotation.test.ts runs the
 * rotation case against DynamoDB Local and the sim.
 */

async function readyNodes(f: MemoryFixture, n: number) {
  const exportId = await f.createExport(n);
  const ctl = f.controller("c1");
  await ctl.step();
  await f.advance(6_000);
  await ctl.step();
  const nodes = await f.live();
  assert.equal(nodes.length, n);
  return { exportId, ctl, nodes };
}

/** The agents, played by the test: idle READY nodes claim; a node whose instance is no longer running releases (SIGTERM). */
async function playAgents(f: MemoryFixture, exportId: string) {
  const instances = await f.instances();
  const leased = async () => (await f.jobs.listPartitions(exportId, { state: "LEASED" })).items;
  for (const p of await leased()) {
    if (instances.get(p.owner ?? "")?.state !== "running") await f.jobs.release(toLease(p), { detail: "SIGTERM: drained" });
  }
  const holders = new Set((await leased()).map((p) => p.owner));
  for (const n of await f.nodes()) {
    if (n.lifecycle === "READY" && !holders.has(n.instanceId) && instances.get(n.instanceId)?.state === "running") {
      await f.jobs.claim({ pool: f.pool, owner: n.instanceId, leaseMs: 60_000 });
    }
  }
}

test("rotating a pool replaces every node, launching first, never disrupting more than the budget", async () => {
  const f = await memoryControllerFixture({ pool: { disruptionBudget: { maxUnavailable: 1 } } });
  const { exportId, ctl, nodes: first } = await readyNodes(f, 4);
  await playAgents(f, exportId);
  assert.equal((await f.jobs.listPartitions(exportId, { state: "LEASED" })).items.length, 4);

  assert.equal((await f.fleet.bumpGeneration(f.pool)).generation, 2);
  let maxDisrupted = 0;
  let minServingReady = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 300; i++) {
    await ctl.step();
    const nodes = await f.nodes();
    const disrupted = nodes.filter(
      (n) => n.lifecycle === "DRAINING" || ((n.lifecycle === "READY" || n.lifecycle === "LAUNCHING") && n.retiringAt !== null),
    ).length;
    maxDisrupted = Math.max(maxDisrupted, disrupted);
    // Capacity doing work never drops below the desired size minus the budget.
    minServingReady = Math.min(minServingReady, nodes.filter((n) => n.lifecycle === "READY").length);
    const live = nodes.filter((n) => n.lifecycle === "READY" || n.lifecycle === "LAUNCHING");
    const done =
      live.length === 4 &&
      live.every((n) => n.generation === 2 && n.lifecycle === "READY") &&
      !nodes.some((n) => n.lifecycle === "DRAINING");
    if (done) break;
    await playAgents(f, exportId);
    await f.advance(2_000);
  }
  const nodes = await f.nodes();
  const live = nodes.filter((n) => n.lifecycle === "READY");
  assert.equal(live.length, 4, `rotation finished; log:\n${f.logs.slice(-20).join("\n")}`);
  assert.ok(live.every((n) => n.generation === 2));
  assert.ok(first.every((n) => nodes.find((x) => x.instanceId === n.instanceId)?.lifecycle === "TERMINATED"));
  assert.equal(maxDisrupted, 1, "at most maxUnavailable = 1 node retiring or draining at any time");
  assert.ok(minServingReady >= 3, `READY nodes never fell below desired - budget (saw ${minServingReady})`);
  assert.equal((await f.fleet.getPool(f.pool))?.replacements, 4);
  // Nothing was lost on the way: every partition is still held or pending, none duplicated.
  const parts = (await f.jobs.listPartitions(exportId)).items;
  assert.equal(parts.length, 4);
  assert.ok(parts.every((p) => p.state === "LEASED" || p.state === "PENDING"));
});

test("idle nodes over the desired size are drained when work runs out, busy ones never; the export is finalized once", async () => {
  const f = await memoryControllerFixture();
  const { exportId, ctl, nodes } = await readyNodes(f, 3);
  const leases = [];
  for (const n of nodes) leases.push(await f.jobs.claim({ pool: f.pool, owner: n.instanceId, leaseMs: 600_000 }));
  const [busy, ...done] = leases;
  assert.ok(busy && done.length === 2);
  for (const l of done) if (l) await f.jobs.complete(l);

  await f.advance(20_000);
  await ctl.step();
  assert.equal((await f.fleet.getPool(f.pool))?.desiredSize, 1);
  const after = await f.nodes();
  const byId = (id: string) => after.find((n) => n.instanceId === id);
  assert.equal(byId(busy.owner)?.lifecycle, "READY", "the node holding a lease is kept");
  for (const l of done) {
    const n = byId(l?.owner ?? "");
    assert.equal(n?.lifecycle, "DRAINING");
    assert.match(n?.reason ?? "", /scale-down/);
  }
  await f.until("the drained nodes to be TERMINATED", async () => {
    await ctl.step();
    return (await f.nodes()).filter((n) => n.lifecycle === "TERMINATED").length === 2;
  });
  assert.equal((await f.instances()).get(done[0]?.owner ?? "")?.state, "terminated");

  // The last partition is done: the export is finalized once and the pool drains to its minimum (0).
  assert.deepEqual(f.finalized, []);
  await f.jobs.complete(await f.jobs.heartbeat(busy, 600_000));
  await f.until("the pool to be empty", async () => {
    await ctl.step();
    return (await f.live()).length === 0;
  });
  await f.advance(60_000);
  await ctl.step();
  assert.deepEqual(f.finalized, [exportId]);
  assert.equal((await f.jobs.getExport(exportId))?.state, "SUCCEEDED");
  assert.equal((await f.fleet.getPool(f.pool))?.desiredSize, 0);
});

test("a drained node whose agent died holding a lease has it released with its cursor once the instance is down", async () => {
  const f = await memoryControllerFixture();
  const { exportId, ctl, nodes } = await readyNodes(f, 1);
  const [n] = nodes;
  assert.ok(n);
  let lease = await f.jobs.claim({ pool: f.pool, owner: n.instanceId, leaseMs: 600_000 });
  assert.ok(lease);
  lease = await f.jobs.checkpoint(lease, chunk(lease, ["42"]));
  // An operator drain (`spotferry drain`): DRAINING and terminated; the agent dies before it can release.
  await f.cloud.terminate([n.instanceId]);
  await f.fleet.updateNode(f.pool, n.instanceId, n.version, { lifecycle: "DRAINING", drainingAt: new Date(f.clock.now()).toISOString() });

  await ctl.step();
  assert.equal((await f.jobs.getPartition(exportId, lease.partition))?.state, "LEASED", "not while the instance shuts down");
  await f.advance(5_000);
  await ctl.step();
  const p = await f.jobs.getPartition(exportId, lease.partition);
  assert.deepEqual([p?.state, p?.cursor, p?.chunks, p?.owner ?? null], ["PENDING", ["42"], 1, null]);
  await f.advance(5_000);
  await ctl.step();
  assert.equal((await f.fleet.getNode(f.pool, n.instanceId))?.lifecycle, "TERMINATED");
  assert.equal((await f.live()).length, 1, "a replacement serves the pool meanwhile");
});
