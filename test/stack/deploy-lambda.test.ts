import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { poolSpec } from "../../config/pool-spec.ts";
import { handler, type LambdaContext, type PassReport } from "../../controller/lambda/handler.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { systemClock } from "../../lib/clock.ts";
import { SLEEPER } from "../helpers/controller-fixture.ts";
import { testSim } from "../helpers/sim.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/** The scheduled Lambda handler (controller/lambda/handler.ts): one `controller run --once` pass per invocation. */

const root = join(import.meta.dirname, "..", "..");
const RECONCILERS = [
  "lease-reaping",
  "interruption",
  "draining",
  "rotation",
  "splitting",
  "spend-cap",
  "provisioning",
  "scale-down",
  "finalizing",
  "garbage-collection",
  "retention",
  "metrics",
];

let table: Awaited<ReturnType<typeof tempStateTable>>;
before(async () => {
  table = await tempStateTable("lambda");
});
after(async () => table?.drop());

test("the handler runs one pass as leader, gives the lease back, and does nothing while another controller leads", async (t) => {
  const { env } = await testSim(t);
  const dir = mkdtempSync(join(tmpdir(), "spotferry-lambda-"));
  const userData = join(dir, "user-data.sh");
  writeFileSync(userData, SLEEPER);
  // The function's environment as the template sets it, on top of the sim's endpoints and the account's keys.
  const saved = { ...process.env };
  t.after(() => {
    process.env = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  delete process.env.SPOTFERRY_STATE_TABLE;
  Object.assign(process.env, env, {
    SPOTFERRY_SETTINGS_JSON: JSON.stringify({ kind: "ControllerSettings", stateTable: table.tableName }),
    SPOTFERRY_USER_DATA: userData,
  });
  const fleet = new DynamoFleetStore({ client: table.client, tableName: table.tableName, clock: systemClock });
  await fleet.applyPool(
    poolSpec.parse({
      kind: "Pool",
      name: "lambda-pool",
      instanceTypes: ["m5.large"],
      subnets: ["subnet-a"],
      imageId: "ami-0sim",
      capacity: { max: 2 },
    }),
  );
  const context = (id: string): LambdaContext => ({ functionName: "spotferry-controller", awsRequestId: id });

  const first = await handler({ source: "aws.events" }, context("req-1"));
  assert.equal(first.leader, true);
  assert.equal(first.owner, "lambda:spotferry-controller:req-1");
  assert.equal(first.stateTable, table.tableName);
  assert.deepEqual([...new Set(first.ran)], RECONCILERS, "every reconciler ran, in order");
  const released = await fleet.getLeader();
  assert.ok(released && released.owner === first.owner && released.expiresAt === 0, "the pass gave the lease back");

  // A replica (the systemd unit, a container, an overlapping invocation) holds the lease: the pass stands by.
  assert.ok(await fleet.acquireLeadership("replica-on-ec2", 60_000));
  const standby = await handler({ source: "aws.events" }, context("req-2"));
  assert.deepEqual({ leader: standby.leader, ran: standby.ran }, { leader: false, ran: [] });
  assert.equal((await fleet.getLeader())?.owner, "replica-on-ec2", "the standby pass took nothing");
  await fleet.releaseLeadership("replica-on-ec2");

  // The built handler (dist/lambda/index.mjs, `index.handler`) is the same code: checked when dist/ is built.
  const built = join(root, "dist", "lambda", "index.mjs");
  if (!existsSync(built)) {
    t.diagnostic("dist/lambda/index.mjs not built (npm run build): the built handler is not called");
    return;
  }
  const mod = (await import(pathToFileURL(built).href)) as { handler: typeof handler };
  const third: PassReport = await mod.handler({}, context("req-3"));
  assert.equal(third.leader, true);
  assert.deepEqual([...new Set(third.ran)], RECONCILERS);
});
