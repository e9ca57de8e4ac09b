import assert from "node:assert/strict";
import { test } from "node:test";
import { plan } from "../contract/job-store.contract.ts";
import { memoryControllerFixture } from "../helpers/memory-controller-fixture.ts";

/**
 * Provisioning with no service (memory stores, fake cloud): desired size from work, capacity shortages, on-demand
 * fallback and base, boot timeout, template versions. test/stack/controller-provisioning.test.ts runs the same
 * behaviours against DynamoDB Local and the sim.
 */

test("a capacity shortage falls over to other types and zones, is remembered for a while, then forgotten", async () => {
  const f = await memoryControllerFixture();
  // The two cheapest spot pools (both in us-east-1a under lowest-price) have no capacity.
  f.controls.setCapacity("spot", "m6i.large", "us-east-1a", 0);
  f.controls.setCapacity("spot", "m5.large", "us-east-1a", 0);
  const exportId = await f.createExport(3);
  const ctl = f.controller("c1");

  await ctl.step();
  let nodes = await f.live();
  assert.equal(nodes.length, 3, "desired = 3 pending partitions");
  assert.ok(nodes.every((n) => n.zone === "us-east-1b" && n.market === "spot" && n.lifecycle === "LAUNCHING"));
  assert.ok(nodes.every((n) => n.exportId === exportId && n.price > 0));
  let pool = await f.fleet.getPool(f.pool);
  assert.deepEqual(Object.keys(pool?.capacityErrors ?? {}).sort(), ["spot|m5.large|us-east-1a", "spot|m6i.large|us-east-1a"]);
  assert.equal(pool?.desiredSize, 3);
  for (const i of (await f.instances()).values()) {
    assert.deepEqual([i.tags["spotferry:pool"], i.tags["spotferry:generation"], i.tags["spotferry:export"]], [f.pool, "1", exportId]);
  }

  // Boot: instances run after 5 s; the next pass sees them running.
  await f.advance(6_000);
  await ctl.step();
  assert.ok((await f.live()).every((n) => n.lifecycle === "READY"));

  // Capacity is back in 1a, but the shortage is remembered: one more partition lands in 1b again.
  f.controls.setCapacity("spot", "m6i.large", "us-east-1a", undefined);
  f.controls.setCapacity("spot", "m5.large", "us-east-1a", undefined);
  await f.jobs.createExport(plan(1, f.pool));
  await f.advance(10_000);
  await ctl.step();
  nodes = await f.live();
  assert.equal(nodes.length, 4);
  assert.ok(
    nodes.every((n) => n.zone === "us-east-1b"),
    "remembered shortages are skipped",
  );

  // After capacityErrorMemory (600 s) the memory is gone: the next launch takes the cheapest pool, m6i.large in 1a.
  await f.advance(f.settings.capacityErrorMemory * 1000);
  await f.jobs.createExport(plan(1, f.pool));
  await f.fleet.applyPool({ ...f.spec, capacity: { ...f.spec.capacity, max: 5 } });
  await ctl.step();
  nodes = await f.live();
  assert.equal(nodes.length, 5);
  assert.deepEqual(
    nodes.filter((n) => n.zone === "us-east-1a").map((n) => n.instanceType),
    ["m6i.large"],
  );
  pool = await f.fleet.getPool(f.pool);
  assert.deepEqual(pool?.capacityErrors, {});
});

test("spot falls back to on-demand after onDemandFallbackAfter; an on-demand base is kept", async () => {
  const f = await memoryControllerFixture({ pool: { onDemandFallbackAfter: "60s", capacity: { min: 0, max: 4, onDemandBase: 1 } } });
  for (const type of ["m5.large", "m6i.large"]) {
    for (const zone of ["us-east-1a", "us-east-1b"]) f.controls.setCapacity("spot", type, zone, 0);
  }
  await f.createExport(3);
  const ctl = f.controller("c1");
  await ctl.step();
  let nodes = await f.live();
  assert.deepEqual(
    nodes.map((n) => n.market),
    ["on-demand"],
    "only the on-demand base launches while spot is short",
  );
  assert.ok((await f.fleet.getPool(f.pool))?.spotShortSince, "the shortage is timed");

  await f.advance(30_000);
  await ctl.step();
  assert.equal((await f.live()).length, 1, "no fallback before 60 s");

  await f.advance(31_000);
  await ctl.step();
  nodes = await f.live();
  assert.equal(nodes.length, 3);
  assert.ok(nodes.every((n) => n.market === "on-demand" && n.price === 0.096));

  // Spot comes back. Once the remembered shortages expire (capacityErrorMemory, 600 s) the fallback ends: the next
  // node the pool needs is tried on spot again, not on-demand for ever.
  for (const type of ["m5.large", "m6i.large"]) {
    for (const zone of ["us-east-1a", "us-east-1b"]) f.controls.setCapacity("spot", type, zone, 10);
  }
  await f.advance(601_000);
  await ctl.step();
  assert.equal((await f.fleet.getPool(f.pool))?.spotShortSince, null, "the shortage is over");
  await f.createExport(2);
  await f.advance(15_000);
  await ctl.step();
  const markets = (await f.live()).map((n) => n.market);
  assert.ok(markets.includes("spot"), `a spot node again (${markets.join(", ")})`);
});

test("a node that does not boot within bootTimeout is terminated and replaced", async () => {
  const f = await memoryControllerFixture({ pool: { bootTimeout: "120s" }, cloud: { bootDelayMs: 100_000_000 } });
  await f.createExport(1);
  const ctl = f.controller("c1");
  await ctl.step();
  const [first] = await f.live();
  assert.ok(first);
  await f.advance(60_000);
  await ctl.step();
  assert.equal((await f.fleet.getNode(f.pool, first.instanceId))?.lifecycle, "LAUNCHING");
  await f.advance(61_000);
  await ctl.step();
  const old = await f.fleet.getNode(f.pool, first.instanceId);
  assert.equal(old?.lifecycle, "TERMINATED");
  assert.match(old?.reason ?? "", /boot timeout/);
  const live = await f.live();
  assert.equal(live.length, 1);
  assert.notEqual(live[0]?.instanceId, first.instanceId, "replaced in the same pass");
  const inst = (await f.instances()).get(first.instanceId);
  assert.ok(inst && inst.state !== "pending" && inst.state !== "running");
  assert.equal((await f.fleet.getPool(f.pool))?.replacements, 1);
});

test("the launch template is written once, reused, and gets a new version when the pool's spec changes", async () => {
  const f = await memoryControllerFixture();
  await f.createExport(1);
  const ctl = f.controller("c1");
  await ctl.step();
  const template = `spotferry-${f.pool}`;
  assert.deepEqual(
    f.controls.templateVersions(template).map((v) => [v.number, v.data.imageId]),
    [[1, "ami-0fake"]],
  );

  await f.fleet.applyPool({ ...f.spec, imageId: "ami-0next", capacity: { ...f.spec.capacity, max: 5 } });
  await f.jobs.createExport(plan(1, f.pool));
  await f.advance(10_000);
  await ctl.step();
  assert.deepEqual(
    f.controls.templateVersions(template).map((v) => [v.number, v.data.imageId]),
    [
      [1, "ami-0fake"],
      [2, "ami-0next"],
    ],
  );
  const versions = [...(await f.instances()).values()].map((i) => i.tags["aws:ec2launchtemplate:version"]);
  assert.deepEqual(versions.sort(), ["1", "2"], "the second launch used the new version");
  assert.equal((await f.fleet.getPool(f.pool))?.template?.version, "2");
});
