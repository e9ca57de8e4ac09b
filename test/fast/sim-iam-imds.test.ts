import assert from "node:assert/strict";
import { test } from "node:test";
import { CreateLaunchTemplateCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from "@aws-sdk/client-ec2";
import { FakeClock } from "../../lib/clock.ts";
import { testSim } from "../helpers/sim.ts";

/**
 * An instance launched with an instance profile finds its role's temporary keys in IMDSv2, as on EC2, and they work
 * against the sim's APIs; the session is renewed once it is within an hour of expiring, and the old token stays
 * valid until its own expiry. Without a profile there is nothing under iam/. Time is a FakeClock.
 */
const HOUR = 3600_000;

async function imds(url: string, path: string): Promise<{ status: number; text: string }> {
  const token = await (
    await fetch(`${url}/latest/api/token`, { method: "PUT", headers: { "x-aws-ec2-metadata-token-ttl-seconds": "21600" } })
  ).text();
  const res = await fetch(`${url}/latest/meta-data/${path}`, { headers: { "x-aws-ec2-metadata-token": token } });
  return { status: res.status, text: await res.text() };
}

interface ImdsCreds {
  Code: string;
  Type: string;
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
  LastUpdated: string;
}

test("IMDS serves the instance profile's session and rotates it an hour before expiry", async (t) => {
  const clock = new FakeClock(Date.parse("2026-03-01T00:00:00Z"));
  const { sim, ec2 } = await testSim(t, { clock });
  await fetch(`${sim.url}/_sim/iam/roles/node`, {
    method: "PUT",
    body: JSON.stringify({
      policy: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*" }] },
    }),
  });
  await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: "node",
      LaunchTemplateData: { IamInstanceProfile: { Name: "node" }, ImageId: "ami-0a1b2c3d4e5f60718", InstanceType: "c6i.large" },
    }),
  );
  const run = async (template?: string) =>
    (
      await ec2.send(
        new RunInstancesCommand({
          MinCount: 1,
          MaxCount: 1,
          ...(template
            ? { LaunchTemplate: { LaunchTemplateName: template } }
            : { ImageId: "ami-0a1b2c3d4e5f60718", InstanceType: "c6i.large" }),
        }),
      )
    ).Instances?.[0]?.InstanceId ?? assert.fail("no instance");
  const id = await run("node");
  const inst = sim.world.instances.get(id) ?? assert.fail("unknown instance");
  await inst.imdsReady;
  const url = inst.imds?.url ?? assert.fail("no IMDS");

  assert.match((await imds(url, "")).text, /^iam\/$/m);
  assert.equal((await imds(url, "iam/security-credentials/")).text, "node");
  const info = JSON.parse((await imds(url, "iam/info")).text) as { Code: string; InstanceProfileArn: string; InstanceProfileId: string };
  assert.equal(info.Code, "Success");
  assert.equal(info.InstanceProfileArn, "arn:aws:iam::000000000000:instance-profile/node");
  assert.match(info.InstanceProfileId, /^AIPA[0-9A-Z]{17}$/);

  const first = JSON.parse((await imds(url, "iam/security-credentials/node")).text) as ImdsCreds;
  assert.equal(first.Code, "Success");
  assert.equal(first.Type, "AWS-HMAC");
  assert.equal(first.LastUpdated, "2026-03-01T00:00:00Z");
  assert.equal(first.Expiration, "2026-03-01T06:00:00Z");
  const asNode = (c: ImdsCreds) =>
    new EC2Client({
      region: "us-east-1",
      endpoint: sim.url,
      credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token },
      maxAttempts: 1,
    });
  const described = await asNode(first).send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  assert.equal(described.Reservations?.[0]?.Instances?.[0]?.InstanceId, id, "the node's keys work");
  assert.ok(sim.world.iam.identify(first.AccessKeyId, first.Token));
  assert.match(JSON.stringify(sim.world.iam.identify(first.AccessKeyId, first.Token)), new RegExp(`assumed-role/node/${id}`));

  await clock.advance(5 * HOUR - 1);
  assert.equal(JSON.parse((await imds(url, "iam/security-credentials/node")).text).Token, first.Token, "not yet within the hour");
  await clock.advance(1);
  const second = JSON.parse((await imds(url, "iam/security-credentials/node")).text) as ImdsCreds;
  assert.notEqual(second.Token, first.Token, "renewed an hour before expiry");
  assert.equal(second.LastUpdated, "2026-03-01T05:00:00Z");
  assert.equal(second.Expiration, "2026-03-01T11:00:00Z");
  assert.ok(await asNode(first).send(new DescribeInstancesCommand({})), "the old token is still valid until its expiry");
  await clock.advance(HOUR);
  await assert.rejects(asNode(first).send(new DescribeInstancesCommand({})), { name: "ExpiredToken" });
  assert.ok(await asNode(second).send(new DescribeInstancesCommand({})));

  const bare = sim.world.instances.get(await run()) ?? assert.fail("unknown instance");
  await bare.imdsReady;
  const bareUrl = bare.imds?.url ?? assert.fail("no IMDS");
  assert.equal((await imds(bareUrl, "iam/security-credentials/")).status, 404, "no profile, nothing under iam/");
  assert.equal((await imds(bareUrl, "iam/info")).status, 404);
  assert.doesNotMatch((await imds(bareUrl, "")).text, /iam/);
});

test("roles given at start are known at once (StartSimOptions.roles)", async (t) => {
  const { sim } = await testSim(t, { roles: { "spotferry-node": null, reader: { Version: "2012-10-17", Statement: [] } } });
  assert.deepEqual(
    sim.world.iam.roles().map((r) => r.name),
    ["spotferry-node", "reader"],
  );
  assert.equal(sim.world.iam.roleOfProfile({ Arn: "arn:aws:iam::000000000000:instance-profile/spotferry-node" }), "spotferry-node");
});
