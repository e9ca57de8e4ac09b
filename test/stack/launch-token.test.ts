import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { poolSpec } from "../../config/pool-spec.ts";
import { Ec2Provider } from "../../controller/cloud/ec2-provider.ts";
import { KILL_AFTER_LAUNCH_ENV } from "../../controller/reconcilers/launch-intents.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { systemClock } from "../../lib/clock.ts";
import { testSim } from "../helpers/sim.ts";
import { cli } from "../helpers/snapshot.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/**
 * A real `controller run --once` process SIGKILLed right after CreateFleet returns (the crash hook in
 * controller/reconcilers/launch-intents.ts), against the local stack's DynamoDB and a private sim of this tree (the
 * stack's long-running sim may predate it): its successor repeats the recorded launch with the same ClientToken,
 * adopts those instances and launches nothing more.
 */

let t: Awaited<ReturnType<typeof tempStateTable>>;
let userData: string;
before(async () => {
  t = await tempStateTable("launch-token");
  userData = join(mkdtempSync(join(tmpdir(), "spotferry-launch-token-")), "user-data.sh");
  writeFileSync(userData, "#!/bin/bash\nsleep 3600\n");
});
after(async () => {
  await t?.drop();
  if (userData) rmSync(dirname(userData), { recursive: true, force: true });
});

test("a controller SIGKILLed right after CreateFleet is succeeded by one that adopts its instances and launches nothing extra", async (tc) => {
  const { ec2, env: simEnv } = await testSim(tc, { timeScale: 1, ssh: false });
  const fleet = new DynamoFleetStore({ client: t.client, tableName: t.tableName, clock: systemClock });
  const cloud = new Ec2Provider({ ec2, clock: systemClock });
  const name = `lt${Math.random().toString(36).slice(2, 8)}`;
  await fleet.applyPool(
    poolSpec.parse({
      kind: "Pool",
      name,
      instanceTypes: ["m5.large"],
      subnets: ["subnet-a", "subnet-b"],
      imageId: "ami-0sim",
      capacity: { min: 2, max: 2 },
      allocationStrategy: "lowest-price",
    }),
  );
  const live = async () => (await cloud.describePoolInstances(name)).filter((i) => i.state === "pending" || i.state === "running");
  // The same owner id, as a restarted replica on the same host has, so the successor need not wait out the lease.
  const args = ["controller", "run", "--once", "--state-table", t.tableName, "--user-data", userData, "--owner", `lt-${name}`];
  try {
    const killed = await cli(args, { ...simEnv, SPOTFERRY_STATE_TABLE: t.tableName, [KILL_AFTER_LAUNCH_ENV]: "1" });
    assert.notEqual(killed.code, 0, `the first controller must die: ${killed.stderr}`);
    const launched = await live();
    assert.equal(launched.length, 2, "its CreateFleet launched the pool's two nodes");
    assert.deepEqual(await fleet.listNodes(name), [], "and it died before recording them");
    assert.equal((await fleet.getLaunch(name))?.open, true);

    const successor = await cli(args, { ...simEnv, SPOTFERRY_STATE_TABLE: t.tableName });
    assert.equal(successor.code, 0, successor.stderr);
    assert.match(successor.stderr + successor.stdout, /repeating launch 1 left open by a previous controller/);
    const after = await live();
    assert.deepEqual(after.map((i) => i.instanceId).sort(), launched.map((i) => i.instanceId).sort(), "no extra capacity");
    const nodes = await fleet.listNodes(name);
    assert.deepEqual(nodes.map((n) => n.instanceId).sort(), launched.map((i) => i.instanceId).sort(), "every instance adopted");
    assert.equal((await fleet.getLaunch(name))?.open, false);
  } finally {
    await cloud.terminate((await cloud.describePoolInstances(name)).map((i) => i.instanceId));
  }
});
