import assert from "node:assert/strict";
import { test } from "node:test";
import { readStatus } from "../../controller/oncall/status.ts";
import { plan, specFor } from "../contract/job-store.contract.ts";
import { memoryControllerFixture } from "../helpers/memory-controller-fixture.ts";

/**
 * The spend cap (issue 17): with the fake cloud and a FakeClock, an export whose projected cost passes its maxCost
 * is held with the figures, and provisioning launches nothing more for it while the running holder still commits.
 */

test("past maxCost the export is held with its figures, no node is launched for it, and a running chunk commits", async () => {
  const f = await memoryControllerFixture({ pool: { capacity: { min: 0, max: 4 } } });
  const p = plan(4, f.pool);
  // Four nodes at ~$0.04/h: $0.01 is about 4 node-minutes.
  const exportId = p.exportId;
  await f.jobs.createExport({ ...p, spec: specFor(exportId, f.pool, { maxCost: 0.01 }) });
  const ctl = f.controller("c1");
  await ctl.step();
  assert.equal((await f.live()).length, 4, "4 partitions, 4 nodes");
  await f.advance(6_000);
  await ctl.step();

  // An agent holds partition 0 and commits a chunk: 250 of 4,000 rows (6%), so the projection is trusted.
  const lease = await f.jobs.claim({ pool: f.pool, owner: (await f.live())[0]?.instanceId as string, leaseMs: 3_600_000 });
  assert.ok(lease);
  const at = { seq: 1, objectKey: "k1", rows: 250, bytes: 1, sha256: "0".repeat(64), firstKey: ["0"] };
  const l1 = await f.jobs.checkpoint(lease, { ...at, lastKey: ["249"] });
  // Three minutes in: $0.008 spent, and 3,750 rows at 250 rows / 186 s is ~46 more minutes of four nodes.
  await f.advance(180_000);
  await ctl.step();
  const held = await f.jobs.getExport(exportId);
  assert.ok(held?.costHold, "the export is held");
  const { spentUsd, projectedUsd, capUsd } = held.costHold;
  assert.equal(capUsd, 0.01);
  assert.ok(spentUsd > 0.007 && spentUsd < 0.01, `spent ${spentUsd}`);
  assert.ok(projectedUsd > 0.1, `projected ${projectedUsd}`);
  assert.ok(f.logs.some((l) => l.includes(`export ${exportId}: projected`)));
  // The status (CLI and page) lists the hold as critical, with its figures and the command that acts on it.
  const status = await readStatus({ jobs: f.jobs, fleet: f.fleet, clock: f.clock });
  const item = status.snapshot.attention.find((a) => a.kind === "cost-hold");
  assert.equal(item?.level, "critical");
  assert.equal(item?.exportId, exportId);
  assert.match(item?.message ?? "", /passes maxCost \$0\.01/);
  assert.match(item?.hint ?? "", new RegExp(`^spotferry export show ${exportId}`));

  // The holder's next chunk still commits: the hold stops launches, not the work in flight.
  const l2 = await f.jobs.checkpoint(l1, { ...at, seq: 2, objectKey: "k2", firstKey: ["250"], lastKey: ["499"] });
  assert.equal(l2.rows, 500);

  // The idle nodes go (the 3 pending partitions no longer count), and lost capacity is not replaced.
  await f.until("idle nodes drained", async () => {
    await ctl.step();
    return (await f.live()).length === 1;
  });
  const launched = (await f.nodes()).length;
  for (const n of await f.live()) f.controls.interrupt(n.instanceId);
  for (let i = 0; i < 5; i++) {
    await f.advance(10_000);
    await ctl.step();
  }
  assert.equal((await f.jobs.getPartition(exportId, lease.partition))?.state, "PENDING", "the lost node's lease was taken back");
  assert.equal((await f.nodes()).length, launched, "no launch after the cap");
  assert.equal((await f.live()).length, 0);
});

test("an export without maxCost, or under it, is never held", async () => {
  const f = await memoryControllerFixture();
  const cheap = plan(2, f.pool);
  await f.jobs.createExport({ ...cheap, spec: specFor(cheap.exportId, f.pool, { maxCost: 1000 }) });
  const free = await f.createExport(2);
  const ctl = f.controller("c1");
  await ctl.step();
  await f.advance(600_000);
  await ctl.step();
  assert.equal((await f.jobs.getExport(cheap.exportId))?.costHold, undefined);
  assert.equal((await f.jobs.getExport(free))?.costHold, undefined);
});
