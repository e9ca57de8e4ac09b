import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { chunk } from "../contract/job-store.contract.ts";
import { controllerFixture } from "../helpers/controller-fixture.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/** Leader election (two controllers never both act) and a controller restart mid-export. */

let table: Awaited<ReturnType<typeof tempStateTable>>;
before(async () => {
  table = await tempStateTable("ctl-lead");
});
after(async () => table?.drop());

test("two controllers never both act; a crashed leader is succeeded after its lease, a stopped one at once", async (t) => {
  const f = await controllerFixture(t, table);
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
  const late = await leader.step();
  assert.equal(late.leader, false);
  assert.deepEqual(acted, [leaderName === "a" ? "b" : "a"]);

  // A clean stop hands over at once.
  await standby.stop();
  assert.equal((await leader.step()).leader, true);
});

test("a controller restart mid-export loses nothing: no extra nodes, leases and cursors intact, orphans collected", async (t) => {
  const f = await controllerFixture(t, table, { settings: { orphanGrace: 60 } });
  const exportId = await f.createExport(3);
  const first = f.controller("first");
  await first.step();
  await f.advance(6_000);
  await first.step();
  const nodes = await f.live();
  assert.equal(nodes.length, 3);
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

  // A new controller process (new owner) on the same table: it waits out the dead one's lease, then reconciles.
  const second = f.controller("second");
  assert.equal((await second.step()).leader, false);
  await f.advance(31_000);
  for (const l of leases) await f.jobs.heartbeat(l, 120_000); // the agents keep going meanwhile
  const pass = await second.step();
  assert.equal(pass.leader, true);
  assert.ok(pass.ran.includes("provisioning") && pass.ran.includes("interruption"));
  await f.advance(61_000); // past orphanGrace and garbage collection's next run
  await second.step();

  const after = await f.live();
  assert.deepEqual(after.map((n) => n.instanceId).sort(), nodes.map((n) => n.instanceId).sort(), "no node added or lost");
  assert.ok(after.every((n) => n.lifecycle === "READY"));
  for (const l of leases) {
    const p = await f.jobs.getPartition(exportId, l.partition);
    assert.deepEqual([p?.state, p?.owner, p?.epoch, p?.cursor, p?.chunks], ["LEASED", l.owner, l.epoch, l.cursor, 1]);
  }
  const strayState = (await f.cloud.describePoolInstances(f.pool)).find((i) => i.instanceId === strayId)?.state;
  assert.ok(strayState === "shutting-down" || strayState === "terminated", `the untracked instance was collected (${strayState})`);

  // The agents finish; the new leader finalizes the export exactly once.
  for (const l of leases) await f.jobs.complete(await f.jobs.heartbeat(l, 120_000));
  await f.advance(20_000);
  await second.step();
  assert.deepEqual(f.finalized, [exportId]);
});
