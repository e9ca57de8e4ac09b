import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { CreateFleetCommand, CreateLaunchTemplateCommand, DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { ec2Client } from "../../lib/aws/ec2.ts";
import { simDown } from "../../sim/daemon.ts";
import { b64, waitFor } from "../helpers/sim.ts";

/**
 * The "done when": `spotferry sim up` in the background, a plain SDK client configured only from the printed
 * env lines creates a fleet, sees it running, `sim interrupt` it, and watches it terminate with the spot reason after
 * the node saw the notice; `sim down` takes the node processes with it.
 */
const run = promisify(execFile);
const bin = join(import.meta.dirname, "..", "..", "bin", "spotferry.mjs");

test("sim up / interrupt / events / down through the CLI, with a detached sim", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "spotferry-sim-cli-"));
  t.after(async () => {
    await simDown({ stateDir: dir });
    rmSync(dir, { recursive: true, force: true });
  });
  const cli = (...args: string[]) =>
    run(process.execPath, [bin, "sim", "--dir", dir, ...args], {
      // The detached sim's own key set (test/test as root), whatever local stack the environment names.
      env: { ...process.env, SPOTFERRY_SIM_IDENTITIES: "" },
    });

  const up = await cli("up", "--time-scale", "0.01", "--boot-delay", "5");
  const env = Object.fromEntries(
    up.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("=", 2) as [string, string]),
  );
  assert.match(env.AWS_ENDPOINT_URL_EC2 ?? "", /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(env.AWS_ENDPOINT_URL_MONITORING, env.AWS_ENDPOINT_URL_EC2);
  const again = await cli("up");
  assert.match(again.stderr, /already running/);

  const ec2 = ec2Client({ ...env, AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" });
  t.after(() => ec2.destroy());
  const script = `#!/bin/bash
TOKEN=$(curl -sf -X PUT "$AWS_EC2_METADATA_SERVICE_ENDPOINT/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
echo $$ > pid
until curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "$AWS_EC2_METADATA_SERVICE_ENDPOINT/latest/meta-data/spot/instance-action" > notice.json; do sleep 0.1; done
sleep 600
`;
  await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: "cli", LaunchTemplateData: { UserData: b64(script) } }));
  const fleet = await ec2.send(
    new CreateFleetCommand({
      Type: "instant",
      LaunchTemplateConfigs: [
        {
          LaunchTemplateSpecification: { LaunchTemplateName: "cli", Version: "$Latest" },
          Overrides: [{ InstanceType: "t3.large" }, { InstanceType: "m5.large" }],
        },
      ],
      TargetCapacitySpecification: { TotalTargetCapacity: 2, DefaultTargetCapacityType: "spot" },
    }),
  );
  const [victim = "", survivor = ""] = fleet.Instances?.flatMap((i) => i.InstanceIds ?? []) ?? [];
  const nodeDir = (id: string) => join(dir, "instances", id);
  await waitFor("both nodes to boot", () => existsSync(join(nodeDir(victim), "pid")) && existsSync(join(nodeDir(survivor), "pid")));

  await cli("interrupt", victim, "--notice", "50");
  await waitFor("the notice", () => existsSync(join(nodeDir(victim), "notice.json")));
  const state = async (id: string) =>
    (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0];
  const gone = await waitFor("termination", async () => {
    const i = await state(victim);
    return i?.State?.Name === "terminated" ? i : undefined;
  });
  assert.equal(gone.StateReason?.Code, "Server.SpotInstanceTermination");
  assert.equal((await state(survivor))?.State?.Name, "running");

  const events = (await cli("events", "--type", "interruption-notice,terminated")).stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    events.map((e) => [e.type, e.instanceId]),
    [
      ["interruption-notice", victim],
      ["terminated", victim],
    ],
  );
  const status = JSON.parse((await cli("status", "--json")).stdout) as { instances: { instanceId: string; state: string }[] };
  assert.equal(status.instances.length, 2);

  const survivorPid = Number(readFileSync(join(nodeDir(survivor), "pid"), "utf8"));
  await cli("down");
  assert.throws(() => process.kill(survivorPid, 0), "sim down kills the node processes");
  assert.equal(existsSync(join(dir, "sim.json")), false);
  await assert.rejects(cli("interrupt", survivor), /no sim is running/);
});
