import assert from "node:assert/strict";
import { test } from "node:test";
import type { NodeRecord } from "../../config/records.ts";
import { estimateExportCost, formatUsd, nodeCost, nodeRunningMs, nodesOfExport, summarizeCost } from "../../controller/oncall/cost.ts";

/** Cost accounting is arithmetic over node records: checked here without any service. */
const t0 = Date.parse("2026-01-01T00:00:00Z");
const iso = (ms: number) => new Date(t0 + ms).toISOString();
const node = (over: Partial<NodeRecord>): NodeRecord => ({
  pool: "p",
  instanceId: "i-1",
  generation: 1,
  lifecycle: "READY",
  instanceType: "m5.large",
  zone: "us-east-1a",
  market: "spot",
  price: 0.04,
  launchedAt: iso(0),
  heartbeatAt: null,
  currentPartition: null,
  hostKeyFingerprint: null,
  terminatedAt: null,
  reason: null,
  exportId: "e1",
  readyAt: null,
  retiringAt: null,
  drainingAt: null,
  version: 0,
  ...over,
});

test("a node costs its launch price times its running time, until terminated", () => {
  const hour = 3_600_000;
  const running = node({});
  const done = node({ instanceId: "i-2", terminatedAt: iso(hour / 2), lifecycle: "TERMINATED" });
  assert.equal(nodeRunningMs(running, t0 + 2 * hour), 2 * hour);
  assert.equal(nodeCost(running, t0 + 2 * hour), 0.08);
  assert.equal(nodeCost(done, t0 + 2 * hour), 0.02, "a terminated node stops costing");
  const s = summarizeCost([running, done, node({ instanceId: "i-3", market: "on-demand", price: 0.096 })], t0 + hour);
  assert.equal(s.nodes, 3);
  assert.equal(s.billedNodes, 2);
  assert.ok(Math.abs(s.costSoFar - (0.04 + 0.02 + 0.096)) < 1e-12);
  assert.ok(Math.abs(s.burnPerHour - 0.136) < 1e-12, "only nodes still running burn");
  assert.ok(Math.abs(s.byMarket.onDemand - 0.096) < 1e-12);
});

test("an export's projected total adds the burn of its running nodes until the rows run out", () => {
  const hour = 3_600_000;
  const nodes = [node({}), node({ instanceId: "i-2" }), node({ instanceId: "i-3", exportId: "other" })];
  const mine = nodesOfExport(nodes, "e1");
  assert.equal(mine.length, 2);
  // 1,000 rows/s, 3.6M rows left: one more hour of two nodes at $0.04.
  const e = estimateExportCost({
    exportId: "e1",
    nodes: mine,
    rowsDone: 3_600_000,
    rowsTotal: 7_200_000,
    now: t0 + hour,
    rowsPerSecond: 1000,
  });
  assert.equal(e.etaSeconds, 3600);
  assert.ok(Math.abs((e.projectedTotal ?? 0) - 0.16) < 1e-12);
  // Without a sampled rate: the average since the first launch (3.6M rows in one hour).
  const avg = estimateExportCost({ exportId: "e1", nodes: mine, rowsDone: 3_600_000, rowsTotal: 7_200_000, now: t0 + hour });
  assert.equal(avg.rowsPerSecond, 1000);
  // Nothing exported yet: no rate, no ETA, no projection; finished: projection is what was spent.
  assert.equal(estimateExportCost({ exportId: "e1", nodes: mine, rowsDone: 0, rowsTotal: 10, now: t0 + hour }).projectedTotal, null);
  const fin = estimateExportCost({ exportId: "e1", nodes: mine, rowsDone: 10, rowsTotal: 10, now: t0 + hour, finished: true });
  assert.equal(fin.etaSeconds, 0);
  assert.equal(fin.projectedTotal, fin.costSoFar);
  assert.equal(formatUsd(0.0123456), "$0.0123");
  assert.equal(formatUsd(12.345), "$12.35");
  assert.equal(formatUsd(null), "?");
});
