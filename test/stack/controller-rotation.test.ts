import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { toLease } from "../../lib/jobs/items.ts";
import { controllerFixture } from "../helpers/controller-fixture.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/** Rotation of a whole generation (`spotferry rotate`) within the disruption budget, replacement first. */

let table: Awaited<ReturnType<typeof tempStateTable>>;
before(async () => {
  table = await tempStateTable("ctl-rot");
});
after(async () => table?.drop());

test("rotating a pool replaces every node, launching first, never disrupting more than the budget", async (t) => {
  const f = await controllerFixture(t, table, { pool: { disruptionBudget: { maxUnavailable: 1 } } });
  const exportId = await f.createExport(4);
  const ctl = f.controller("c1");
  await ctl.step();
  await f.advance(6_000);
  await ctl.step();
  const first = await f.live();
  assert.equal(first.length, 4);

  /** The agents, played by the test: idle READY nodes claim; a node whose instance is shutting down releases (SIGTERM). */
  const playAgents = async () => {
    const instances = new Map((await f.cloud.describePoolInstances(f.pool)).map((i) => [i.instanceId, i]));
    const leased = (await f.jobs.listPartitions(exportId, { state: "LEASED" })).items;
    for (const p of leased) {
      const state = instances.get(p.owner ?? "")?.state;
      if (state !== "running") await f.jobs.release(toLease(p), { detail: "SIGTERM: drained" });
    }
    const holders = new Set((await f.jobs.listPartitions(exportId, { state: "LEASED" })).items.map((p) => p.owner));
    for (const n of await f.nodes()) {
      if (n.lifecycle === "READY" && !holders.has(n.instanceId) && instances.get(n.instanceId)?.state === "running") {
        await f.jobs.claim({ pool: f.pool, owner: n.instanceId, leaseMs: 60_000 });
      }
    }
  };
  await playAgents();
  assert.equal((await f.jobs.listPartitions(exportId, { state: "LEASED" })).items.length, 4);

  const rotated = await f.fleet.bumpGeneration(f.pool);
  assert.equal(rotated.generation, 2);
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
    await playAgents();
    await f.advance(2_000);
  }
  const nodes = await f.nodes();
  const live = nodes.filter((n) => n.lifecycle === "READY");
  assert.equal(live.length, 4, `rotation finished; log:\n${f.logs.slice(-20).join("\n")}`);
  assert.ok(live.every((n) => n.generation === 2));
  assert.ok(first.every((n) => nodes.find((x) => x.instanceId === n.instanceId)?.lifecycle === "TERMINATED"));
  assert.equal(maxDisrupted, 1, "at most maxUnavailable = 1 node retiring or draining at any time");
  assert.ok(minServingReady >= 3, `READY nodes never fell below desired - budget (saw ${minServingReady})`);
  const pool = await f.fleet.getPool(f.pool);
  assert.equal(pool?.replacements, 4);
  // Nothing was lost on the way: every partition is still held or pending, none duplicated.
  const parts = (await f.jobs.listPartitions(exportId)).items;
  assert.equal(parts.length, 4);
  assert.ok(parts.every((p) => p.state === "LEASED" || p.state === "PENDING"));
});
