import assert from "node:assert/strict";
import { test } from "node:test";
import { poolSpec } from "../../config/pool-spec.ts";
import { nodeRecord } from "../../config/records.ts";
import { applyDrain, applyScale, planDrain, planScale } from "../../controller/operator/fleet.ts";
import { applyCancel, applyRetry, planCancel, planRetry } from "../../controller/operator/jobs.ts";
import { ActionRefused } from "../../controller/operator/refusal.ts";
import { MemoryFleetStore } from "../../controller/store/memory-fleet-store.ts";
import { FakeClock } from "../../lib/clock.ts";
import { MemoryJobStore } from "../../lib/jobs/memory-job-store.ts";
import { plan } from "../contract/job-store.contract.ts";

// Operator actions as plain functions over in-memory stores: no commander, no prompt, no service.

async function quarantined(n: number) {
  const clock = new FakeClock();
  const jobs = new MemoryJobStore({ clock });
  const p = plan(3);
  await jobs.createExport(p);
  for (let i = 0; i < n; i++) {
    const lease = await jobs.claim({ pool: p.spec.pool, owner: "node-1", leaseMs: 60_000 });
    assert.ok(lease);
    await jobs.fail(lease, { error: "boom", maxAttempts: 1, backoffMs: 0 });
  }
  return { clock, jobs, exportId: p.exportId };
}

test("retry: a RUNNING export's quarantined partitions go back on the queue; nothing to retry is refused", async () => {
  const { jobs, exportId } = await quarantined(2);
  const planned = await planRetry(jobs, { exportId });
  assert.match(planned.description, /^retry 2 quarantined partitions of export /);
  const result = await applyRetry(jobs, planned, { by: "operator:test" });
  assert.equal(result.retried.length, 2);
  assert.equal((await jobs.progress(exportId)).byState.QUARANTINED.partitions, 0);
  await assert.rejects(planRetry(jobs, { exportId }), ActionRefused);
  await assert.rejects(planRetry(jobs, { exportId, partition: 0 }), /is PENDING, not QUARANTINED/);
  await assert.rejects(planRetry(jobs, { exportId: "nope" }), /export nope not found/);
});

test("retry refuses when every planned partition changed meanwhile (exit 5, nothing changed)", async () => {
  const { jobs, exportId } = await quarantined(1);
  const planned = await planRetry(jobs, { exportId });
  await applyRetry(jobs, planned, { by: "operator:a" });
  await assert.rejects(applyRetry(jobs, planned, { by: "operator:b" }), (err: Error) => err instanceof ActionRefused && err.exitCode === 5);
});

test("cancel: a RUNNING export is cancelled and its pending partitions leave the queue; a cancelled one is refused after", async () => {
  const { jobs, exportId } = await quarantined(0);
  const planned = await planCancel(jobs, { exportId });
  assert.match(planned.description, /^cancel export .*: 3 pending partitions leave the queue and 0 running ones/);
  const result = await applyCancel(jobs, planned, { reason: "test" });
  assert.deepEqual([result.state, result.dequeued], ["CANCELLED", 3]);
  assert.equal(await jobs.claim({ pool: (await jobs.getExport(exportId))!.spec.pool, owner: "n", leaseMs: 1000 }), null);
});

async function fleetWithNode() {
  const clock = new FakeClock();
  const fleet = new MemoryFleetStore({ clock });
  const spec = poolSpec.parse({
    kind: "Pool",
    name: "p",
    instanceTypes: ["m5.large"],
    subnets: ["subnet-0abc"],
    imageId: "ami-0abc",
    capacity: { max: 4 },
  });
  await fleet.applyPool(spec);
  const node = {
    pool: "p",
    instanceId: "i-1",
    lifecycle: "READY",
    instanceType: "m5.large",
    zone: "z-a",
    market: "spot",
    price: 0.03,
    generation: 1,
    launchedAt: new Date(clock.now()).toISOString(),
    readyAt: new Date(clock.now()).toISOString(),
    heartbeatAt: null,
    currentPartition: null,
    hostKeyFingerprint: null,
    terminatedAt: null,
    reason: null,
  };
  assert.equal(await fleet.putNode(nodeRecord.parse(node)), true);
  return { clock, fleet };
}

test("drain: DRAINING first, then terminate; a failed terminate is a warning, not an error; a second drain is refused", async () => {
  const { clock, fleet } = await fleetWithNode();
  const terminated: string[][] = [];
  const planned = await planDrain(fleet, { instanceId: "i-1" });
  const result = await applyDrain({ fleet, clock, cloud: { terminate: async (ids) => void terminated.push(ids) } }, planned, {
    by: "operator:t",
  });
  assert.deepEqual([result.lifecycle, result.terminateRequested, terminated], ["DRAINING", true, [["i-1"]]]);
  assert.equal((await fleet.getNode("p", "i-1"))?.lifecycle, "DRAINING");
  await assert.rejects(planDrain(fleet, { instanceId: "i-1" }), /is DRAINING; only a LAUNCHING or READY node can be drained/);

  const other = await fleetWithNode();
  const failing = await applyDrain(
    { fleet: other.fleet, clock: other.clock, cloud: { terminate: async () => Promise.reject(new Error("throttled")) } },
    await planDrain(other.fleet, { instanceId: "i-1" }),
    { by: "operator:t" },
  );
  assert.deepEqual(
    [failing.terminateRequested, failing.warning],
    [false, "terminating i-1 failed (throttled); the controller will terminate it"],
  );
});

test("scale: new bounds are validated like a pool spec; a pool changed meanwhile is refused", async () => {
  const { fleet } = await fleetWithNode();
  await assert.rejects(planScale(fleet, { pool: "p" }), /give --min, --max or both/);
  await assert.rejects(planScale(fleet, { pool: "p", min: 5, max: 2 }), /capacity/);
  const planned = await planScale(fleet, { pool: "p", max: 8 });
  assert.match(planned.description, /to min 0 \/ max 8 \(1 live nodes\)/);
  const stale = await planScale(fleet, { pool: "p", max: 6 });
  assert.deepEqual((await applyScale(fleet, planned)).capacity.max, 8);
  await assert.rejects(applyScale(fleet, stale), ActionRefused);
});
