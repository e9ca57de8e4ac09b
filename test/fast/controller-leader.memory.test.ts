import assert from "node:assert/strict";
import { test } from "node:test";
import { chunk } from "../contract/job-store.contract.ts";
import { type MemoryFixture, memoryControllerFixture } from "../helpers/memory-controller-fixture.ts";

/**
 * Leader election, a controller restart, lease reaping and garbage collection with no service.
 * test/stack/controller-leader.test.ts runs the first two against DynamoDB Local and the sim.
 */

async function readyNodes(f: MemoryFixture, n: number, owner = "c1") {
  const exportId = await f.createExport(n);
  const ctl = f.controller(owner);
  await ctl.step();
  await f.advance(6_000);
  await ctl.step();
  const nodes = await f.live();
  assert.equal(nodes.length, n);
  return { exportId, ctl, nodes };
}

test("two controllers never both act; a crashed leader is succeeded after its lease, a stopped one at once", async () => {
  const f = await memoryControllerFixture();
  const acted: string[] = [];
  const spy = (owner: string) => [
    {
      name: "spy",
      run: async () => {
        acted.push(owner);
        return { nextRunInMs: 0 };
      },
    },
  ];
  const a = f.controller("a", spy("a"));
  const b = f.controller("b", spy("b"));

  // Racing for a free lease: exactly one wins.
  const [ra, rb] = await Promise.all([a.step(), b.step()]);
  assert.equal(Number(ra.leader) + Number(rb.leader), 1);
  const [leader, standby, leaderName] = ra.leader ? [a, b, "a"] : [b, a, "b"];
  for (let i = 0; i < 20; i++) {
    acted.length = 0;
    const [x, y] = await Promise.all([leader.step(), standby.step()]);
    assert.deepEqual([x.leader, y.leader], [true, false]);
    assert.deepEqual(acted, [leaderName]);
    await f.advance(3_000); // well inside the 30 s lease, renewed every 10 s
  }

  // The leader crashes (stops stepping, never releases). The standby waits out the lease, then takes over.
  const term = leader.term ?? 0;
  await f.advance(15_000);
  assert.equal((await standby.step()).leader, false, "lease not yet expired");
  await f.advance(20_000);
  acted.length = 0;
  const takeover = await standby.step();
  assert.equal(takeover.leader, true);
  assert.equal(standby.term, term + 1);
  // The old leader wakes up: it knows its lease is over and does nothing.
  assert.equal((await leader.step()).leader, false);
  assert.deepEqual(acted, [leaderName === "a" ? "b" : "a"]);

  // A clean stop hands over at once.
  await standby.stop();
  assert.equal((await leader.step()).leader, true);
});

test("a controller restart mid-export loses nothing: no extra nodes, leases and cursors intact, orphans collected", async () => {
  const f = await memoryControllerFixture({ settings: { orphanGrace: 60 } });
  const { exportId, nodes } = await readyNodes(f, 3, "first");
  // Agents work: each node holds a partition with one committed chunk.
  const leases = [];
  for (const n of nodes) {
    let l = await f.jobs.claim({ pool: f.pool, owner: n.instanceId, leaseMs: 120_000 });
    assert.ok(l);
    l = await f.jobs.checkpoint(l, chunk(l, [String((l.lo ? Number(l.lo[0]) : 0) + 5)]));
    leases.push(l);
  }
  // The controller dies right after a CreateFleet whose node record was never written: an untracked instance.
  const pool = await f.fleet.getPool(f.pool);
  assert.ok(pool?.template);
  const stray = await f.cloud.launch({
    pool: f.pool,
    generation: pool.generation,
    template: { ...pool.template, created: false },
    overrides: [{ instanceType: "m5.large", subnetId: "subnet-b" }],
    count: 1,
    onDemandCount: 0,
    allocationStrategy: "lowest-price",
  });
  const strayId = stray.instances[0]?.instanceId ?? "";
  assert.ok(strayId);

  // A new controller process (new owner) on the same stores: it waits out the dead one's lease, then reconciles.
  const second = f.controller("second");
  assert.equal((await second.step()).leader, false);
  await f.advance(31_000);
  for (const l of leases) await f.jobs.heartbeat(l, 120_000); // the agents keep going meanwhile
  const pass = await second.step();
  assert.equal(pass.leader, true);
  assert.ok(pass.ran.includes("provisioning") && pass.ran.includes("interruption"));
  assert.equal((await f.instances()).get(strayId)?.state, "running", "not collected within orphanGrace");
  await f.advance(61_000); // past orphanGrace and garbage collection's next run
  await second.step();

  const after = await f.live();
  assert.deepEqual(after.map((n) => n.instanceId).sort(), nodes.map((n) => n.instanceId).sort(), "no node added or lost");
  assert.ok(after.every((n) => n.lifecycle === "READY"));
  for (const l of leases) {
    const p = await f.jobs.getPartition(exportId, l.partition);
    assert.deepEqual([p?.state, p?.owner, p?.epoch, p?.cursor, p?.chunks], ["LEASED", l.owner, l.epoch, l.cursor, 1]);
  }
  const strayState = (await f.instances()).get(strayId)?.state;
  assert.ok(strayState === "shutting-down" || strayState === "terminated", `the untracked instance was collected (${strayState})`);

  // The agents finish; the new leader finalizes the export exactly once.
  for (const l of leases) await f.jobs.complete(await f.jobs.heartbeat(l, 120_000));
  await f.advance(20_000);
  await second.step();
  assert.deepEqual(f.finalized, [exportId]);
});

test("an expired lease is reaped back to PENDING with its cursor after the skew margin, never before", async () => {
  const f = await memoryControllerFixture();
  const { exportId, ctl, nodes } = await readyNodes(f, 2);
  const [a, b] = nodes;
  assert.ok(a && b);
  // Agent a commits a chunk, then hangs: its lease (60 s) is never renewed. Agent b keeps heartbeating.
  let silent = await f.jobs.claim({ pool: f.pool, owner: a.instanceId, leaseMs: 60_000 });
  assert.ok(silent);
  silent = await f.jobs.checkpoint(silent, chunk(silent, [String((silent.lo ? Number(silent.lo[0]) : 0) + 3)]));
  let alive = await f.jobs.claim({ pool: f.pool, owner: b.instanceId, leaseMs: 60_000 });
  assert.ok(alive);

  await f.advance(65_000); // expired, but within the 10 s skew margin
  alive = await f.jobs.heartbeat(alive, 60_000);
  await ctl.step();
  assert.equal((await f.jobs.getPartition(exportId, silent.partition))?.state, "LEASED", "not reaped inside the skew margin");

  await f.advance(20_000); // the reaper's next run (a third of the partition lease)
  alive = await f.jobs.heartbeat(alive, 60_000);
  await ctl.step();
  const p = await f.jobs.getPartition(exportId, silent.partition);
  assert.deepEqual([p?.state, p?.cursor, p?.chunks, p?.owner ?? null], ["PENDING", silent.cursor, 1, null]);
  assert.equal((await f.jobs.getPartition(exportId, alive.partition))?.owner, b.instanceId, "a live lease is never reaped");
  assert.ok(f.logs.some((l) => l.includes(`reaped partition ${silent.partition}`)));
  await assert.rejects(f.jobs.heartbeat(silent, 60_000), /lost/);
  const heir = await f.jobs.claim({ pool: f.pool, owner: a.instanceId, leaseMs: 60_000 });
  assert.deepEqual([heir?.partition, heir?.epoch, heir?.cursor], [silent.partition, silent.epoch + 1, silent.cursor]);
});

test("garbage collection terminates an instance whose record says TERMINATED (a lost terminate call)", async () => {
  const f = await memoryControllerFixture();
  const { ctl, nodes } = await readyNodes(f, 1);
  const [n] = nodes;
  assert.ok(n);
  const marked = await f.fleet.updateNode(f.pool, n.instanceId, n.version, {
    lifecycle: "TERMINATED",
    terminatedAt: new Date(f.clock.now()).toISOString(),
    reason: "test: terminate call lost",
  });
  assert.ok(marked);
  assert.equal((await f.instances()).get(n.instanceId)?.state, "running");
  await f.advance(60_000);
  await ctl.step();
  assert.equal((await f.instances()).get(n.instanceId)?.state, "shutting-down");
  assert.ok(f.logs.some((l) => l.includes("unaccounted instances") && l.includes(n.instanceId)));
});
