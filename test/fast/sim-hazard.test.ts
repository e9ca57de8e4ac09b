import assert from "node:assert/strict";
import { test } from "node:test";
import { RunInstancesCommand } from "@aws-sdk/client-ec2";
import { FakeClock } from "../../lib/clock.ts";
import { seededRandom } from "../../sim/chaos.ts";
import { testSim } from "../helpers/sim.ts";

/** A hazard run replays exactly from its seed: same victims (by launch order) at the same times. */

async function hazardRun(t: Parameters<typeof testSim>[0], seed: number): Promise<string[]> {
  const clock = new FakeClock();
  const start = clock.now();
  const { ec2, sim } = await testSim(t, { clock, timeScale: 1, hazardTickSec: 30, noticeSec: 120, bootDelaySec: 5 });
  const launch = async (pool: string, n: number) => {
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: "ami-0123456789abcdef0",
        InstanceType: "m5.large",
        MinCount: n,
        MaxCount: n,
        InstanceMarketOptions: { MarketType: "spot" },
        TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "spotferry:pool", Value: pool }] }],
      }),
    );
    return run.Instances?.map((i) => i.InstanceId ?? "") ?? [];
  };
  const victims = await launch("etl", 12);
  const bystanders = await launch("other", 4);
  sim.world.chaos.hazard("etl", 4, seed);
  // One simulated hour in hazard ticks; instances boot, get notices and terminate along the way.
  for (let step = 0; step < 120; step++) await clock.advance(30_000);
  const notices = sim.world.events.list(0, ["interruption-notice"]);
  for (const n of notices) assert.ok(!bystanders.includes(String(n.instanceId)), "only the pool's instances are hit");
  const terminated = sim.world.events.list(0, ["terminated"]).map((e) => e.instanceId);
  for (const n of notices) assert.ok(terminated.includes(n.instanceId), "every noticed instance was terminated");
  return notices.map((n) => `#${victims.indexOf(String(n.instanceId))}@+${(Date.parse(n.time) - start) / 1000}s`);
}

test("same seed, same victims at the same times; another seed differs", async (t) => {
  const a = await hazardRun(t, 7);
  const b = await hazardRun(t, 7);
  assert.ok(a.length >= 3, `a rate of 4/h over 12 instances for an hour interrupts several: ${a.join(" ")}`);
  assert.deepEqual(a, b);
  const c = await hazardRun(t, 8);
  assert.notDeepEqual(a, c);
  t.diagnostic(`seed 7: ${a.join(" ")}`);
});

test("the seeded generator is a pure function of its seed", () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const xs = Array.from({ length: 5 }, () => a());
  assert.deepEqual(
    xs,
    Array.from({ length: 5 }, () => b()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});
