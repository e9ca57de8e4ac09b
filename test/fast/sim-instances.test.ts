import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  CreateFleetCommand,
  CreateLaunchTemplateCommand,
  DescribeInstancesCommand,
  type EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { FakeClock } from "../../lib/clock.ts";
import { b64, testSim, waitFor } from "../helpers/sim.ts";

// These nodes' user-data is a Node script: an image with Node baked in (the sim's default image has none).
const NODE_IMAGE = { node: process.execPath };

/**
 * Instances are processes: user-data runs under bash in the instance's own directory, reads its metadata through
 * IMDSv2, sees a spot interruption notice before the instance goes away with the spot reason.
 *
 * The sim's time is a FakeClock stepped by the tests: boot, notice, shutdown and kill grace happen when the clock
 * says so, so "still pending", "still running during the notice" and "not killed before the grace" are states, not
 * races against a slow machine. Only the instance processes run in real time, and they are waited for.
 */
const USER_DATA = `#!/bin/bash
set -u
IMDS="$AWS_EC2_METADATA_SERVICE_ENDPOINT"
TOKEN=$(curl -sf -X PUT "$IMDS/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 60")
md() { curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/meta-data/$1"; }
echo "id=$(md instance-id) type=$(md instance-type) az=$(md placement/availability-zone) lc=$(md instance-life-cycle) pool=$(md tags/instance/spotferry:pool)" > metadata.txt
curl -s -o /dev/null -w '%{http_code}' "$IMDS/latest/meta-data/instance-id" > no-token-status.txt
curl -s -o /dev/null -w '%{http_code}' -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/meta-data/spot/instance-action" > before-notice-status.txt
echo "$AWS_ENDPOINT_URL_EC2 $AWS_ENDPOINT_URL_MONITORING \${SPOTFERRY_TEST_MARKER:-not-passed}" > env.txt
trap 'echo sigterm > sigterm.txt; exit 0' TERM
touch ready
until md events/recommendations/rebalance > rebalance.json; do sleep 0.05; done
until md spot/instance-action > notice.json; do sleep 0.05; done
echo "saw notice"
while true; do sleep 0.05; done
`;

async function launch(ec2: EC2Client, userData: string): Promise<string> {
  await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: "node",
      LaunchTemplateData: {
        UserData: b64(userData),
        TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "spotferry:pool", Value: "etl" }] }],
      },
    }),
  );
  const fleet = await ec2.send(
    new CreateFleetCommand({
      Type: "instant",
      LaunchTemplateConfigs: [
        {
          LaunchTemplateSpecification: { LaunchTemplateName: "node", Version: "$Latest" },
          Overrides: [{ InstanceType: "c6i.large", SubnetId: "subnet-c" }],
        },
      ],
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: "spot" },
    }),
  );
  return fleet.Instances?.[0]?.InstanceIds?.[0] ?? assert.fail("no instance launched");
}

const describe = async (ec2: EC2Client, id: string) =>
  (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0];

test("a node boots from user-data, reads IMDSv2, gets a notice, and ends terminated with the spot reason", async (t) => {
  process.env.SPOTFERRY_TEST_MARKER = "passed-through";
  t.after(() => {
    delete process.env.SPOTFERRY_TEST_MARKER;
  });
  const clock = new FakeClock(Date.now());
  const { ec2, sim } = await testSim(t, { clock, timeScale: 0.01, bootDelaySec: 10, shutdownDelaySec: 3, imageExtras: NODE_IMAGE });
  const id = await launch(ec2, USER_DATA);
  const dir = join(sim.stateDir, "instances", id);
  assert.equal((await describe(ec2, id))?.State?.Name, "pending");
  await clock.advance(99);
  assert.equal((await describe(ec2, id))?.State?.Name, "pending", "still booting 1 ms before bootDelaySec x 0.01");
  await clock.advance(1);

  await waitFor("user-data to start and read its metadata", () => existsSync(join(dir, "ready")));
  assert.equal((await describe(ec2, id))?.State?.Name, "running");
  assert.equal(readFileSync(join(dir, "metadata.txt"), "utf8").trim(), `id=${id} type=c6i.large az=us-east-1c lc=spot pool=etl`);
  assert.equal(readFileSync(join(dir, "no-token-status.txt"), "utf8"), "401", "IMDSv1 (no token) is refused");
  assert.equal(readFileSync(join(dir, "before-notice-status.txt"), "utf8"), "404", "no notice yet");
  assert.equal(
    readFileSync(join(dir, "env.txt"), "utf8").trim(),
    `${sim.url} ${sim.url} not-passed`,
    "the sim's own SPOTFERRY_* variables stay on the host",
  );

  // Through the control API, as `spotferry sim rebalance` / `sim interrupt` do.
  const rebalance = await fetch(`${sim.url}/_sim/instances/${id}/rebalance`, { method: "POST" });
  assert.equal(rebalance.status, 200);
  const interrupted = await fetch(`${sim.url}/_sim/instances/${id}/interrupt`, { method: "POST", body: "{}" });
  const { terminateAt } = (await interrupted.json()) as { terminateAt: string };
  assert.equal(Date.parse(terminateAt), clock.now() + 1200, "the notice announces termination in 120 s x 0.01");

  // Non-empty: the shell creates notice.json (the redirect) before curl has written the notice into it.
  await waitFor("the node to see the notice", () => existsSync(join(dir, "notice.json")) && statSync(join(dir, "notice.json")).size > 0);
  const notice = JSON.parse(readFileSync(join(dir, "notice.json"), "utf8")) as { action: string; time: string };
  assert.equal(notice.action, "terminate");
  assert.equal(Date.parse(notice.time), Math.floor(Date.parse(terminateAt) / 1000) * 1000);
  assert.ok(JSON.parse(readFileSync(join(dir, "rebalance.json"), "utf8")).noticeTime);
  assert.equal((await describe(ec2, id))?.State?.Name, "running", "still running during the notice");
  await clock.advance(1199);
  assert.equal((await describe(ec2, id))?.State?.Name, "running", "still running 1 ms before the notice ends");
  // The notice ends (SIGTERM), then the shutdown delay (3 s x 0.01); the node's own exit is waited for in real time.
  await clock.advance(1);
  await clock.advance(30);
  const gone = await waitFor("termination", async () => {
    const i = await describe(ec2, id);
    return i?.State?.Name === "terminated" ? i : undefined;
  });
  assert.equal(gone.StateReason?.Code, "Server.SpotInstanceTermination");
  assert.equal(gone.InstanceLifecycle, "spot");
  assert.equal(readFileSync(join(dir, "sigterm.txt"), "utf8").trim(), "sigterm", "the node got SIGTERM");
  assert.match(readFileSync(join(dir, "console.log"), "utf8"), /saw notice/);
  // The notice was seen before termination by construction: the clock only reached terminateAt after notice.json.
  const types = sim.world.events
    .list()
    .filter((e) => e.instanceId === id)
    .map((e) => e.type);
  assert.deepEqual(types, [
    "launched",
    "running",
    "user-data-started",
    "rebalance-recommendation",
    "interruption-notice",
    "shutting-down",
    "user-data-exited",
    "terminated",
  ]);
});

test("a hard kill gives no notice; a node that ignores SIGTERM is killed after the grace period", async (t) => {
  const clock = new FakeClock(Date.now());
  const { ec2, sim } = await testSim(t, {
    clock,
    timeScale: 0.01,
    bootDelaySec: 1,
    killGraceSec: 100,
    shutdownDelaySec: 3,
    imageExtras: NODE_IMAGE,
  });
  const stubborn = `trap '' TERM\ntouch ready\nwhile true; do sleep 0.05; done\n`;
  const id = await launch(ec2, stubborn);
  const dir = join(sim.stateDir, "instances", id);
  await clock.advance(10);
  await waitFor("boot", () => existsSync(join(dir, "ready")));
  const kill = await fetch(`${sim.url}/_sim/instances/${id}/kill`, { method: "POST" });
  assert.equal(kill.status, 200);
  await clock.advance(30);
  const gone = await waitFor("termination", async () => {
    const i = await describe(ec2, id);
    return i?.State?.Name === "terminated" ? i : undefined;
  });
  assert.equal(gone.StateReason?.Code, "Server.SpotInstanceTermination");
  assert.equal(sim.world.events.list(0, ["interruption-notice"]).length, 0);

  const second = (await fetch(`${sim.url}/_sim/instances/${id}/kill`, { method: "POST" })).status;
  assert.equal(second, 400, "killing a terminated instance is refused");
  const unknown = await fetch(`${sim.url}/_sim/instances/i-0123456789abcdef0/interrupt`, { method: "POST" });
  assert.equal(unknown.status, 404);

  // Same script, polite termination: SIGTERM is ignored, SIGKILL follows after killGraceSec (100 x 0.01 = 1 s).
  const run = await ec2.send(
    new RunInstancesCommand({
      LaunchTemplate: { LaunchTemplateName: "node" },
      ImageId: "ami-0123456789abcdef0",
      InstanceType: "c5.large",
      InstanceMarketOptions: { MarketType: "spot" },
      MinCount: 1,
      MaxCount: 1,
    }),
  );
  const id2 = run.Instances?.[0]?.InstanceId ?? assert.fail("no instance");
  await clock.advance(10);
  await waitFor("boot", () => existsSync(join(sim.stateDir, "instances", id2, "ready")));
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id2] }));
  // Past the shutdown delay but 1 ms short of the grace: SIGTERM was ignored and SIGKILL cannot have been sent yet.
  await clock.advance(999);
  assert.equal((await describe(ec2, id2))?.State?.Name, "shutting-down", "the stubborn process is given its grace period");
  await clock.advance(1);
  await waitFor("termination", async () => (await describe(ec2, id2))?.State?.Name === "terminated");
  const exit = sim.world.events.list(0, ["user-data-exited"]).find((e) => e.instanceId === id2);
  assert.equal(exit?.code, "SIGKILL");
});
