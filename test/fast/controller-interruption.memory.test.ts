import assert from "node:assert/strict";
import { test } from "node:test";
import { chunk } from "../contract/job-store.contract.ts";
import { type MemoryFixture, memoryControllerFixture } from "../helpers/memory-controller-fixture.ts";

/**
 * Interruptions with no service: a node that is interrupted, killed, noticed or silent gives its partitions back with
 * their cursors and is replaced at once. test/stack/controller-interruption.test.ts runs the same against the sim.
 */

/** Launches `n` nodes for an export of `n` partitions and boots them. */
async function readyNodes(f: MemoryFixture, n: number) {
  const exportId = await f.createExport(n);
  const ctl = f.controller("c1");
  await ctl.step();
  await f.advance(6_000);
  await ctl.step();
  const nodes = await f.live();
  assert.equal(nodes.length, n);
  assert.ok(nodes.every((x) => x.lifecycle === "READY"));
  return { exportId, ctl, nodes };
}

/** The test plays an agent: claims a partition for `owner` and commits one chunk `ahead` keys into it. */
async function claimAndCommit(f: MemoryFixture, owner: string, ahead: number) {
  const lease = await f.jobs.claim({ pool: f.pool, owner, leaseMs: 60_000 });
  assert.ok(lease);
  const cursor = [String((lease.lo ? Number(lease.lo[0]) : 0) + ahead)];
  return { lease: await f.jobs.checkpoint(lease, chunk(lease, cursor)), cursor };
}

test("an interrupted node's partitions become claimable again with their cursors, and it is replaced at once", async () => {
  const f = await memoryControllerFixture();
  const { exportId, ctl, nodes } = await readyNodes(f, 2);
  const [a, b] = nodes;
  assert.ok(a && b);
  // Agent a dies without releasing (its spot notice goes unheeded); agent b's instance is hard-killed.
  const held = [await claimAndCommit(f, a.instanceId, 10), await claimAndCommit(f, b.instanceId, 20)];

  f.controls.interrupt(a.instanceId, 30_000);
  f.controls.kill(b.instanceId);
  await f.until("both instances to be going", async () => {
    const m = await f.instances();
    return [a, b].every((n) => ["shutting-down", "terminated"].includes(m.get(n.instanceId)?.state ?? ""));
  });
  const t0 = f.clock.now();
  await ctl.step();
  assert.equal(f.clock.now(), t0, "one pass, no waiting for lease expiry");

  for (const n of [a, b]) {
    const rec = await f.fleet.getNode(f.pool, n.instanceId);
    assert.ok(rec?.lifecycle === "INTERRUPTED" || rec?.lifecycle === "TERMINATED", `${n.instanceId} is ${rec?.lifecycle}`);
    assert.equal(rec?.reason, "spot interruption");
  }
  for (const { lease, cursor } of held) {
    const p = await f.jobs.getPartition(exportId, lease.partition);
    assert.deepEqual([p?.state, p?.cursor, p?.chunks, p?.owner ?? null], ["PENDING", cursor, 1, null]);
  }
  // Both were spot interruptions: their (type, zone) spot pools are remembered as short, like a launch shortage.
  const marked = await f.fleet.getPool(f.pool);
  for (const n of [a, b]) {
    assert.ok(marked?.capacityErrors[`spot|${n.instanceType}|${n.zone}`], `spot|${n.instanceType}|${n.zone} marked short`);
  }
  // The fence holds: the old holder can no longer write.
  await assert.rejects(f.jobs.heartbeat(held[0]!.lease, 60_000), /lost/);

  const live = await f.live();
  assert.equal(live.length, 2, "two replacements launched in the same pass");
  assert.ok(live.every((n) => n.instanceId !== a.instanceId && n.instanceId !== b.instanceId));
  assert.ok(
    live.every((n) => !marked?.capacityErrors[`spot|${n.instanceType}|${n.zone}`]),
    "replacements avoid the pools just marked short",
  );
  const pool = await f.fleet.getPool(f.pool);
  assert.deepEqual([pool?.interruptions, pool?.replacements], [2, 2]);

  // A replacement resumes each partition from its cursor.
  const c = live[0]?.instanceId ?? "";
  const resumed = await f.jobs.claim({ pool: f.pool, owner: c, leaseMs: 60_000 });
  assert.ok(resumed && resumed.epoch === 2 && resumed.chunks === 1);
  assert.deepEqual(resumed.cursor, held.find((h) => h.lease.partition === resumed.partition)?.cursor);

  // Once the instances are gone for good the records say TERMINATED, and their leases stay with the new owners.
  await f.until("interrupted nodes to be TERMINATED", async () => {
    await ctl.step();
    const recs = await Promise.all([a, b].map((n) => f.fleet.getNode(f.pool, n.instanceId)));
    return recs.every((r) => r?.lifecycle === "TERMINATED");
  });
  assert.equal((await f.jobs.getPartition(exportId, resumed.partition))?.owner, c);
});

test("a spot notice the agent acted on is replaced at once, before the cloud reclaims the instance", async () => {
  const f = await memoryControllerFixture();
  const { exportId, ctl, nodes } = await readyNodes(f, 1);
  const [n] = nodes;
  assert.ok(n);
  const { lease, cursor } = await claimAndCommit(f, n.instanceId, 7);
  // The notice: two minutes until EC2 reclaims it. The agent commits and releases at once, saying why.
  f.controls.interrupt(n.instanceId, 120_000);
  await f.jobs.release(lease, { interrupted: true, detail: "spot notice" });
  await f.advance(5_000); // the interruption reconciler's next run
  await ctl.step();

  const rec = await f.fleet.getNode(f.pool, n.instanceId);
  assert.equal(rec?.lifecycle, "INTERRUPTED");
  assert.match(rec?.reason ?? "", /spot interruption notice/);
  assert.equal((await f.instances()).get(n.instanceId)?.state, "shutting-down", "terminated without waiting for the notice");
  const [replacement] = await f.live();
  assert.ok(replacement && replacement.instanceId !== n.instanceId);
  assert.ok((await f.fleet.getPool(f.pool))?.capacityErrors[`spot|${n.instanceType}|${n.zone}`], "its spot pool is marked short");
  const p = await f.jobs.getPartition(exportId, lease.partition);
  assert.deepEqual([p?.state, p?.cursor], ["PENDING", cursor]);
});

test("a READY node that holds no lease while work waits is presumed dead, terminated and replaced", async () => {
  const f = await memoryControllerFixture({ settings: { heartbeatTimeout: 90 } });
  const { exportId, ctl, nodes } = await readyNodes(f, 1);
  const [n] = nodes;
  assert.ok(n);
  // A live lease counts as a heartbeat...
  assert.ok(await f.jobs.claim({ pool: f.pool, owner: n.instanceId, leaseMs: 60_000 }));
  await f.advance(40_000);
  await ctl.step();
  assert.ok((await f.fleet.getNode(f.pool, n.instanceId))?.heartbeatAt);
  assert.equal((await f.fleet.getNode(f.pool, n.instanceId))?.lifecycle, "READY", "alive while it holds a lease");
  // ...then the agent goes silent: the lease expires and is reaped, and nobody claims the pending partition.
  await f.advance(200_000);
  await ctl.step();
  const rec = await f.fleet.getNode(f.pool, n.instanceId);
  assert.ok(rec?.lifecycle === "INTERRUPTED" || rec?.lifecycle === "TERMINATED");
  assert.match(rec?.reason ?? "", /no heartbeat/);
  assert.equal((await f.jobs.getPartition(exportId, 0))?.state, "PENDING");
  assert.equal((await f.instances()).get(n.instanceId)?.state, "shutting-down");
  const live = await f.live();
  assert.equal(live.length, 1);
  assert.notEqual(live[0]?.instanceId, n.instanceId);
});
