import assert from "node:assert/strict";
import { test } from "node:test";
import { LAUNCH_REPLAY_WINDOW_MS } from "../../controller/reconcilers/launch-intents.ts";
import { memoryControllerFixture } from "../helpers/memory-controller-fixture.ts";

/**
 * Idempotent launches across a controller crash (controller/reconcilers/launch-intents.ts), with memory stores and
 * the fake cloud: the controller dies after CreateFleet returned and before it recorded a node; its successor repeats
 * the recorded launch with the same ClientToken and adopts the instances. test/stack/launch-token.test.ts SIGKILLs a
 * real controller process against the sim.
 */

/** Makes the fleet store fail every node record from now on, as if the process died right after CreateFleet. */
function crashBeforeNodes(fleet: { putNode: (...a: never[]) => Promise<boolean> }): () => void {
  const put = fleet.putNode;
  fleet.putNode = () => Promise.reject(new Error("controller killed before recording its nodes"));
  return () => {
    fleet.putNode = put;
  };
}

test("a successor repeats the launch left open by a crashed controller and adopts its instances, launching nothing more", async () => {
  const f = await memoryControllerFixture();
  const exportId = await f.createExport(3);
  const restore = crashBeforeNodes(f.fleet);
  await f.controller("c1").step();
  restore();
  assert.equal((await f.instances()).size, 3, "the crashed controller's CreateFleet launched 3");
  assert.equal((await f.nodes()).length, 0, "and recorded none of them");
  const open = await f.fleet.getLaunch(f.pool);
  assert.equal(open?.open, true);
  assert.match(open?.clientToken ?? "", /^spotferry-[0-9a-f]{40}$/);

  // The successor takes over once the dead controller's lease has expired.
  await f.advance((f.settings.leaderLease + 1) * 1000);
  await f.controller("c2").step();
  const instances = await f.instances();
  assert.equal(instances.size, 3, "no extra capacity");
  const nodes = await f.live();
  assert.deepEqual(nodes.map((n) => n.instanceId).sort(), [...instances.keys()].sort(), "every instance adopted");
  assert.ok(nodes.every((n) => n.exportId === exportId));
  assert.equal((await f.fleet.getLaunch(f.pool))?.open, false);
  assert.ok(f.logs.some((l) => l.startsWith("c2: pool pool-1: adopted 3 instances of launch 1")));

  // The next launch is a new one: sequence 2, a new token.
  await f.createExport(1);
  await f.advance(10_000);
  await f.controller("c2").step();
  const next = await f.fleet.getLaunch(f.pool);
  assert.equal(next?.seq, 2);
  assert.notEqual(next?.clientToken, open?.clientToken);
  assert.equal((await f.instances()).size, 4);
});

test("an open launch older than the replay window is closed unrepeated, its instances left to garbage collection", async () => {
  const f = await memoryControllerFixture();
  await f.createExport(2);
  const restore = crashBeforeNodes(f.fleet);
  await f.controller("c1").step();
  restore();
  await f.advance(LAUNCH_REPLAY_WINDOW_MS + 1000);
  await f.controller("c2").step();
  assert.equal((await f.fleet.getLaunch(f.pool))?.seq, 2, "closed, then a fresh launch");
  assert.ok(f.logs.some((l) => l.includes("was left open too long to repeat")));
});

test("an open launch whose repeat fails is closed, so the pool's next pass launches afresh", async () => {
  const f = await memoryControllerFixture();
  await f.createExport(2);
  const restore = crashBeforeNodes(f.fleet);
  await f.controller("c1").step();
  restore();
  // The recorded request now names a template the cloud does not know, as after a deleted template.
  const open = await f.fleet.getLaunch(f.pool);
  assert.ok(open);
  const broken = { ...JSON.parse(open.request), template: { id: "lt-gone", name: "gone", version: "1", created: false } };
  await f.fleet.closeLaunch(f.pool, open.seq);
  assert.ok(await f.fleet.openLaunch({ ...open, seq: open.seq + 1, request: JSON.stringify(broken) }));
  await f.advance((f.settings.leaderLease + 1) * 1000);
  await f.controller("c2").step();
  assert.equal((await f.fleet.getLaunch(f.pool))?.open, false, "closed after one failed repeat");
  assert.ok(f.logs.some((l) => l.includes("repeating launch 2 of pool pool-1; closed it")));
  await f.advance(10_000);
  await f.controller("c2").step();
  assert.equal((await f.fleet.getLaunch(f.pool))?.seq, 3, "the next pass launches afresh");
});
