import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { chunk } from "../contract/job-store.contract.ts";
import { controllerFixture } from "../helpers/controller-fixture.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/** Interruptions: a node that is interrupted, killed or silent gives its partitions back with their cursors. */

let table: Awaited<ReturnType<typeof tempStateTable>>;
before(async () => {
  table = await tempStateTable("ctl-intr");
});
after(async () => table?.drop());

test("an interrupted node's partitions become claimable again with their cursors, and it is replaced at once", async (t) => {
  const f = await controllerFixture(t, table);
  const exportId = await f.createExport(2);
  const ctl = f.controller("c1");
  await ctl.step();
  await f.advance(6_000);
  await ctl.step();
  const [a, b] = await f.live();
  assert.ok(a && b && a.lifecycle === "READY" && b.lifecycle === "READY");

  // The test plays the agents: each node claims a partition and commits one chunk. Agent a dies without releasing
  // (its spot notice goes unheeded); agent b's instance is hard-killed.
  let leaseA = await f.jobs.claim({ pool: f.pool, owner: a.instanceId, leaseMs: 60_000 });
  let leaseB = await f.jobs.claim({ pool: f.pool, owner: b.instanceId, leaseMs: 60_000 });
  assert.ok(leaseA && leaseB);
  const cursorA = [String((leaseA.lo ? Number(leaseA.lo[0]) : 0) + 10)];
  leaseA = await f.jobs.checkpoint(leaseA, chunk(leaseA, cursorA));
  const cursorB = [String((leaseB.lo ? Number(leaseB.lo[0]) : 0) + 20)];
  leaseB = await f.jobs.checkpoint(leaseB, chunk(leaseB, cursorB));

  f.sim.world.chaos.interrupt(a.instanceId, 30);
  f.sim.world.chaos.kill(b.instanceId);
  await f.until("both instances to be terminated", async () => {
    const states = (await f.cloud.describePoolInstances(f.pool)).filter(
      (i) => i.instanceId === a.instanceId || i.instanceId === b.instanceId,
    );
    return states.every((i) => i.state === "terminated" || i.state === "shutting-down");
  });
  const t0 = f.clock.now();
  await ctl.step();
  assert.equal(f.clock.now(), t0, "one pass, no waiting for lease expiry");

  for (const n of [a, b]) {
    const rec = await f.fleet.getNode(f.pool, n.instanceId);
    assert.ok(rec?.lifecycle === "INTERRUPTED" || rec?.lifecycle === "TERMINATED", `${n.instanceId} is ${rec?.lifecycle}`);
    assert.equal(rec?.reason, "spot interruption");
  }
  for (const [lease, cursor] of [
    [leaseA, cursorA],
    [leaseB, cursorB],
  ] as const) {
    const p = await f.jobs.getPartition(exportId, lease.partition);
    assert.deepEqual([p?.state, p?.cursor, p?.chunks, p?.owner ?? null], ["PENDING", cursor, 1, null]);
  }
  // Both were spot interruptions: their (type, zone) spot pools are remembered as short, like a launch shortage.
  const marked = await f.fleet.getPool(f.pool);
  for (const n of [a, b])
    assert.ok(marked?.capacityErrors[`spot|${n.instanceType}|${n.zone}`], `spot|${n.instanceType}|${n.zone} marked short`);
  // The fence holds: the old holder can no longer write.
  await assert.rejects(f.jobs.heartbeat(leaseA, 60_000), /lost/);

  const live = await f.live();
  assert.equal(live.length, 2, "two replacements launched in the same pass");
  assert.ok(live.every((n) => n.instanceId !== a.instanceId && n.instanceId !== b.instanceId));
  const pool = await f.fleet.getPool(f.pool);
  assert.deepEqual([pool?.interruptions, pool?.replacements], [2, 2]);

  // A replacement resumes each partition from its cursor.
  const c = live[0]?.instanceId ?? "";
  const resumed = await f.jobs.claim({ pool: f.pool, owner: c, leaseMs: 60_000 });
  assert.ok(resumed && resumed.epoch === 2 && resumed.chunks === 1);
  assert.deepEqual(resumed.cursor, resumed.partition === leaseA.partition ? cursorA : cursorB);

  // Once the instances are gone for good the records say TERMINATED, and their leases stay with the new owners.
  await f.until("interrupted nodes to be TERMINATED", async () => {
    await ctl.step();
    const recs = await Promise.all([a, b].map((n) => f.fleet.getNode(f.pool, n.instanceId)));
    return recs.every((r) => r?.lifecycle === "TERMINATED");
  });
  assert.equal((await f.jobs.getPartition(exportId, resumed.partition))?.owner, c);
});

test("a READY node that holds no lease while work waits is presumed dead, terminated and replaced", async (t) => {
  const f = await controllerFixture(t, table, { settings: { heartbeatTimeout: 90 } });
  const exportId = await f.createExport(1);
  const ctl = f.controller("c1");
  await ctl.step();
  await f.advance(6_000);
  await ctl.step();
  const [n] = await f.live();
  assert.equal(n?.lifecycle, "READY");
  // A live lease counts as a heartbeat...
  const lease = await f.jobs.claim({ pool: f.pool, owner: n?.instanceId ?? "", leaseMs: 60_000 });
  assert.ok(lease);
  await f.advance(40_000);
  await ctl.step();
  assert.ok((await f.fleet.getNode(f.pool, n?.instanceId ?? ""))?.heartbeatAt);
  // ...then the agent goes silent: the lease expires and is reaped, and nobody claims the pending partition.
  await f.advance(200_000);
  await ctl.step();
  const rec = await f.fleet.getNode(f.pool, n?.instanceId ?? "");
  assert.ok(rec?.lifecycle === "INTERRUPTED" || rec?.lifecycle === "TERMINATED");
  assert.match(rec?.reason ?? "", /no heartbeat/);
  assert.equal((await f.jobs.getPartition(exportId, 0))?.state, "PENDING");
  const live = await f.live();
  assert.equal(live.length, 1);
  assert.notEqual(live[0]?.instanceId, n?.instanceId);
});
