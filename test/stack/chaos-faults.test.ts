import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { CreateFleetCommand, CreateLaunchTemplateCommand, DescribeInstancesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import { s3Client } from "../../lib/aws/s3.ts";
import { b64, testSim, waitFor } from "../helpers/sim.ts";

/**
 * The sim's faults the chaos run adds (sim/chaos/): outages at the S3 front door, which only the sim's callers see,
 * and freezing an instance's process group (SIGSTOP) and thawing it (SIGCONT).
 */
test("an S3 outage at the sim's door refuses or hangs the sim's callers only, then ends", async (t) => {
  const { sim, env } = await testSim(t, { timeScale: 0.1 });
  const viaSim = new S3Client({ ...s3Config(env), maxAttempts: 1 });
  const direct = s3Client();
  t.after(() => {
    viaSim.destroy();
    direct.destroy();
  });
  await viaSim.send(new ListBucketsCommand({}));

  const refuse = await outage(sim.url, { service: "s3", seconds: 2, mode: "refuse" });
  await assert.rejects(viaSim.send(new ListBucketsCommand({})), "refused through the sim");
  await direct.send(new ListBucketsCommand({})); // the shared stack serves everyone else meanwhile
  await waitFor("the outage's end", () => Date.now() >= refuse.until);
  await viaSim.send(new ListBucketsCommand({}));

  const hang = await outage(sim.url, { service: "s3", seconds: 1, mode: "hang" });
  await assert.rejects(viaSim.send(new ListBucketsCommand({})));
  assert.ok(Date.now() >= hang.until, "a hung call is only let go when the outage ends");
  await viaSim.send(new ListBucketsCommand({}));

  const status = (await (await fetch(`${sim.url}/_sim/status`)).json()) as { outages: { past: { mode: string; calls: number }[] } };
  assert.deepEqual(
    status.outages.past.map((o) => [o.mode, o.calls]),
    [
      ["refuse", 1],
      ["hang", 1],
    ],
  );
});

test("freeze stops an instance's processes (SIGSTOP) and thaw resumes them; a frozen instance is killed at once", async (t) => {
  const { sim, ec2 } = await testSim(t, { timeScale: 0.01 });
  const id = await launch(ec2, "#!/bin/bash\nwhile true; do sleep 0.05; done\n");
  const pid = await waitFor("the user-data process", async () => {
    const list = (await (await fetch(`${sim.url}/_sim/instances`)).json()) as { instanceId: string; pid?: number; state: string }[];
    const inst = list.find((i) => i.instanceId === id);
    return inst?.state === "running" && inst.pid ? inst.pid : undefined;
  });
  const state = () => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];

  assert.equal((await post(sim.url, `/instances/${id}/freeze`)).status, 200);
  await waitFor("the process stopped", () => state() === "T");
  assert.equal((await post(sim.url, `/instances/${id}/thaw`)).status, 200);
  await waitFor("the process running again", () => state() !== "T");

  await post(sim.url, `/instances/${id}/freeze`);
  await waitFor("the process stopped", () => state() === "T");
  await post(sim.url, `/instances/${id}/kill`);
  await waitFor("terminated", async () => (await describeState(ec2, id)) === "terminated", 20_000);
  const events = await (await fetch(`${sim.url}/_sim/events?type=frozen,thawed`)).text();
  assert.deepEqual(
    events
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { type: string }).type),
    ["frozen", "thawed", "frozen"],
  );
  assert.equal((await post(sim.url, "/instances/i-0nosuch/freeze")).status, 404);
});

function s3Config(env: Record<string, string>) {
  return {
    region: "us-east-1",
    endpoint: env.AWS_ENDPOINT_URL_S3,
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  };
}

const post = (url: string, path: string, body: unknown = {}) =>
  fetch(`${url}/_sim${path}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });

async function outage(url: string, body: { service: string; seconds: number; mode: string }): Promise<{ until: number }> {
  const res = await post(url, "/outage", body);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as { until: number };
}

async function launch(ec2: EC2Client, userData: string): Promise<string> {
  await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: "frozen", LaunchTemplateData: { UserData: b64(userData) } }));
  const fleet = await ec2.send(
    new CreateFleetCommand({
      Type: "instant",
      LaunchTemplateConfigs: [
        {
          LaunchTemplateSpecification: { LaunchTemplateName: "frozen", Version: "$Latest" },
          Overrides: [{ InstanceType: "c6i.large", SubnetId: "subnet-a" }],
        },
      ],
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: "on-demand" },
    }),
  );
  return fleet.Instances?.[0]?.InstanceIds?.[0] ?? assert.fail("no instance launched");
}

const describeState = async (ec2: EC2Client, id: string) =>
  (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name;
