import assert from "node:assert/strict";
import { test } from "node:test";
import { poolSpec } from "../../config/pool-spec.ts";
import type { NodeRecord } from "../../config/records.ts";
import { FakeCloudProvider } from "../../controller/cloud/fake-provider.ts";
import { buildEstimate, describeEstimate, estimateExport } from "../../controller/estimate/index.ts";
import { poolPricing } from "../../controller/estimate/prices.ts";
import { MemoryFleetStore } from "../../controller/store/memory-fleet-store.ts";
import { FakeClock } from "../../lib/clock.ts";
import { MemoryJobStore } from "../../lib/jobs/memory-job-store.ts";
import { compareEstimate, estimateLines } from "../../sim/rehearsal/estimate-check.ts";
import { plan } from "../contract/job-store.contract.ts";

/** The plan-time estimate (issue 17): its arithmetic, the pool's prices from the market, throughput from history. */

const spec = (name: string) =>
  poolSpec.parse({
    kind: "Pool",
    name,
    instanceTypes: ["m5.large", "m6i.large"],
    subnets: ["subnet-a", "subnet-b"],
    imageId: "ami-0fake",
    capacity: { min: 0, max: 3 },
  });

test("the model: nodes within the pool's bounds, the rate capped per agent, boot added, cost at the median price", () => {
  const est = buildEstimate({
    exportId: "e",
    rows: 150_000,
    partitions: 10,
    pool: { name: "p", min: 0, max: 3, partitionsPerNode: 1 },
    throughput: { rowsPerSecondPerSlot: 2_000, source: "probe", detail: "probe", includesBoot: false },
    pricing: { market: "spot", median: 0.04, low: 0.03, high: 0.08, pairs: 4, detail: "prices" },
    maxRowsPerSecond: 1_500,
    bootSeconds: 15,
  });
  assert.deepEqual([est.nodes, est.slots, est.rowsPerSecond], [3, 3, 4_500]);
  const seconds = 15 + 150_000 / 4_500;
  assert.ok(Math.abs((est.durationSeconds ?? 0) - seconds) < 1e-9);
  assert.ok(Math.abs((est.nodeHours ?? 0) - (3 * seconds) / 3600) < 1e-12);
  assert.ok(Math.abs((est.costUsd ?? 0) - ((3 * seconds) / 3600) * 0.04) < 1e-12);
  assert.ok(Math.abs((est.costHighUsd ?? 0) - 2 * (est.costUsd ?? 0)) < 1e-12);
  const text = describeEstimate(est).join("\n");
  for (const s of [
    "partitions:     10 for 150,000 rows",
    "time to finish: 48s",
    "capped at source.maxRowsPerSecond 1,500",
    "assumptions:",
  ]) {
    assert.ok(text.includes(s), `${s} in:\n${text}`);
  }
  const none = buildEstimate({ ...{ exportId: "e", rows: 1, partitions: 1, pool: null, throughput: null, pricing: null, bootSeconds: 0 } });
  assert.equal(none.costUsd, null);
  assert.match(none.assumptions.join(), /pool is not applied/);
});

test("prices: the latest spot price of each type in the pool's zones, median and range", async () => {
  const clock = new FakeClock();
  const cloud = new FakeCloudProvider({
    clock,
    subnets: { "subnet-a": "us-east-1a", "subnet-b": "us-east-1b", "subnet-c": "us-east-1c" },
    spotPrices: { "m5.large|us-east-1a": 0.03, "m5.large|us-east-1b": 0.05, "m6i.large": 0.04, "c5.large": 0.01 },
  });
  const p = await poolPricing(cloud, spec("p"));
  assert.deepEqual([p.market, p.pairs, p.low, p.high, p.median], ["spot", 4, 0.03, 0.05, 0.04]);
});

test("throughput from history: rows of a past export of the same table over its nodes' billed seconds", async () => {
  const clock = new FakeClock(Date.parse("2026-01-01T00:00:00Z"));
  const jobs = new MemoryJobStore({ clock });
  const fleet = new MemoryFleetStore({ clock });
  const pool = spec("hist");
  await fleet.applyPool(pool);
  const past = plan(2, pool.name);
  await jobs.createExport(past);
  await clock.advance(100_000);
  await jobs.setExportState(past.exportId, { from: ["RUNNING"], to: "SUCCEEDED", rowsExported: 200_000 });
  // Two nodes for 100 s each: 1,000 rows per node-second.
  for (const id of ["i-1", "i-2"]) {
    const at = "2026-01-01T00:00:00.000Z";
    const node = { pool: pool.name, instanceId: id, generation: 1, lifecycle: "TERMINATED", instanceType: "m5.large", zone: "us-east-1a" };
    await fleet.putNode({
      ...node,
      ...{ market: "spot", price: 0.04, launchedAt: at, heartbeatAt: null, currentPartition: null, hostKeyFingerprint: null },
      ...{ terminatedAt: "2026-01-01T00:01:40.000Z", reason: null, exportId: past.exportId, readyAt: "2026-01-01T00:00:10.000Z" },
      ...{ retiringAt: null, drainingAt: null, version: 0 },
    } as NodeRecord);
  }
  const next = plan(6, pool.name);
  const cloud = new FakeCloudProvider({
    clock,
    subnets: { "subnet-a": "us-east-1a", "subnet-b": "us-east-1b" },
    spotPrices: { "m5.large": 0.04, "m6i.large": 0.04 },
  });
  const est = await estimateExport(
    { jobs, fleet, cloud, clock },
    { exportId: next.exportId, spec: next.spec, keyIndex: "PRIMARY", keyColumns: next.keyColumns, rows: 600_000, partitions: 6 },
  );
  assert.equal(est.throughputSource, "history");
  assert.deepEqual([est.nodes, est.rowsPerSecond], [3, 3_000]);
  assert.equal(est.durationSeconds, 200, "history includes boot: no boot added");
  assert.ok(Math.abs((est.costUsd ?? 0) - ((3 * 200) / 3600) * 0.04) < 1e-12);
});

test("the rehearsal's comparison: ratios per figure, within 2x only when all three are", () => {
  const est = buildEstimate({
    exportId: "e",
    rows: 90_000,
    partitions: 3,
    pool: { name: "p", min: 0, max: 3, partitionsPerNode: 1 },
    throughput: { rowsPerSecondPerSlot: 1_000, source: "probe", detail: "probe", includesBoot: false },
    pricing: { market: "spot", median: 0.036, low: 0.036, high: 0.036, pairs: 1, detail: "prices" },
    bootSeconds: 10,
  });
  // 40 s, 3 nodes: 1/30 node-hour, $0.0012.
  const close = compareEstimate(est, { durationSeconds: 60, nodeHours: 0.05, costUsd: 0.0018 });
  assert.ok(close.withinTolerance);
  assert.ok(Math.abs((close.ratio.durationSeconds ?? 0) - 40 / 60) < 1e-9);
  assert.match(estimateLines(close).join("\n"), /within 2x[\s\S]*time 40s vs 1m00s \(0\.67x\)/);
  const far = compareEstimate(est, { durationSeconds: 130, nodeHours: 0.05, costUsd: 0.0018 });
  assert.equal(far.withinTolerance, false);
  assert.match(estimateLines(far)[0] ?? "", /NOT within 2x/);
});
