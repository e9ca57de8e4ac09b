import assert from "node:assert/strict";
import { test } from "node:test";
import { CloudWatchClient, ListMetricsCommand, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import {
  CreateFleetCommand,
  CreateLaunchTemplateCommand,
  DescribeInstancesCommand,
  DescribeRegionsCommand,
  EC2Client,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { FakeClock } from "../../lib/clock.ts";
import type { PolicyDocument } from "../../lib/iam/policy-document.ts";
import { type Denial, generatedIdentities } from "../../sim/iam/identities.ts";
import { b64, signedFetch, testSim } from "../helpers/sim.ts";

/**
 * Every AWS call to the sim is signed and checked: unsigned, unknown keys, wrong secrets, missing, wrong or expired
 * session tokens are refused with the codes AWS uses; a role session may do only what its policy allows, and each
 * denial names the action, the resource and the role, in AWS's wording.
 */
type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
const ec2With = (url: string, credentials: Creds) => new EC2Client({ region: "us-east-1", endpoint: url, credentials, maxAttempts: 1 });
const cwWith = (url: string, credentials: Creds) =>
  new CloudWatchClient({ region: "us-east-1", endpoint: url, credentials, maxAttempts: 1 });

async function putRole(url: string, name: string, policy?: PolicyDocument): Promise<void> {
  const res = await fetch(`${url}/_sim/iam/roles/${name}`, { method: "PUT", body: JSON.stringify({ policy }) });
  assert.equal(res.status, 200, await res.text());
}

async function session(url: string, role: string, sessionName = "test"): Promise<Creds> {
  const res = await fetch(`${url}/_sim/iam/roles/${role}/session`, { method: "POST", body: JSON.stringify({ sessionName }) });
  const s = (await res.json()) as { AccessKeyId: string; SecretAccessKey: string; Token: string; Expiration: string };
  assert.ok(Date.parse(s.Expiration) > 0, "Expiration is an ISO time");
  return { accessKeyId: s.AccessKeyId, secretAccessKey: s.SecretAccessKey, sessionToken: s.Token };
}

const rejects = async (p: Promise<unknown>, name: string, message?: RegExp) =>
  assert.rejects(p, (err: Error) => {
    assert.equal(err.name, name, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });

const DESCRIBE_ONLY: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: ["ec2:Describe*", "cloudwatch:ListMetrics"], Resource: "*" }],
};

test("signatures and keys: unsigned, unknown, wrong secret, missing/wrong/expired token", async (t) => {
  const clock = new FakeClock(Date.now());
  // The sim's own key set (test/test as root), whatever local stack the environment names.
  const { sim, ec2, root } = await testSim(t, { clock, identities: generatedIdentities() });
  assert.ok((await ec2.send(new DescribeRegionsCommand({}))).Regions?.length, "root test/test is allowed everything");

  const unsigned = await fetch(sim.url, { method: "POST", body: "Action=DescribeRegions&Version=2016-11-15" });
  assert.equal(unsigned.status, 403);
  assert.match(await unsigned.text(), /<Code>MissingAuthenticationToken<\/Code>/);

  await rejects(ec2With(sim.url, { accessKeyId: "AKIAUNKNOWN", secretAccessKey: "x" }).send(new DescribeRegionsCommand({})), "AuthFailure");
  await rejects(
    ec2With(sim.url, { accessKeyId: "test", secretAccessKey: "wrong" }).send(new DescribeRegionsCommand({})),
    "SignatureDoesNotMatch",
  );
  await rejects(
    cwWith(sim.url, { accessKeyId: "test", secretAccessKey: "wrong" }).send(new ListMetricsCommand({})),
    "SignatureDoesNotMatch",
  );
  const tampered = await signedFetch(sim.url, { service: "ec2", body: "Action=DescribeRegions&Version=2016-11-15", credentials: root });
  assert.equal(tampered.status, 200, "a signed raw call passes");
  const wrongService = await signedFetch(sim.url, {
    service: "monitoring",
    body: "Action=DescribeRegions&Version=2016-11-15",
    credentials: root,
  });
  assert.equal(wrongService.status, 400, "scope 'monitoring' routes to CloudWatch, which has no DescribeRegions");

  await putRole(sim.url, "reader", DESCRIBE_ONLY);
  const s = await session(sim.url, "reader");
  assert.match(s.accessKeyId, /^ASIASIM[A-Z0-9]{13}$/);
  const reader = ec2With(sim.url, s);
  assert.ok((await reader.send(new DescribeInstancesCommand({}))).Reservations);
  await rejects(ec2With(sim.url, { ...s, sessionToken: undefined }).send(new DescribeRegionsCommand({})), "AuthFailure");
  await rejects(ec2With(sim.url, { ...s, sessionToken: "IQoJsimforged" }).send(new DescribeRegionsCommand({})), "AuthFailure");
  await rejects(cwWith(sim.url, { ...s, sessionToken: "IQoJsimforged" }).send(new ListMetricsCommand({})), "InvalidClientTokenId");
  await rejects(ec2With(sim.url, { ...root, sessionToken: s.sessionToken }).send(new DescribeRegionsCommand({})), "AuthFailure");

  await clock.advance(6 * 3600_000);
  await rejects(reader.send(new DescribeRegionsCommand({})), "ExpiredToken");
  await rejects(cwWith(sim.url, s).send(new ListMetricsCommand({})), "ExpiredToken");
  const fresh = await session(sim.url, "reader");
  assert.equal(fresh.accessKeyId, s.accessKeyId, "a role keeps its pool key; sessions differ by token");
  assert.ok((await ec2With(sim.url, fresh).send(new DescribeRegionsCommand({}))).Regions);
});

test("pool keys: one per role for good, a clear error when none is left", async (t) => {
  const pool = Array.from({ length: 2 }, (_, i) => ({ accessKeyId: `ASIAPOOL${i}`, secretAccessKey: `s${i}` }));
  const { sim } = await testSim(t, { identities: { root: [{ accessKeyId: "admin", secretAccessKey: "adminsecret" }], pool } });
  for (const r of ["a", "b", "c"]) await putRole(sim.url, r);
  assert.equal((await session(sim.url, "a")).accessKeyId, "ASIAPOOL0");
  assert.equal((await session(sim.url, "b")).accessKeyId, "ASIAPOOL1");
  assert.equal((await session(sim.url, "a")).accessKeyId, "ASIAPOOL0");
  const res = await fetch(`${sim.url}/_sim/iam/roles/c/session`, { method: "POST", body: "{}" });
  assert.equal(res.status, 400);
  assert.match(((await res.json()) as { error: string }).error, /role c: every pool key is bound to another role/);
  await rejects(ec2With(sim.url, { accessKeyId: "test", secretAccessKey: "test" }).send(new DescribeRegionsCommand({})), "AuthFailure");
  assert.ok(
    (await ec2With(sim.url, { accessKeyId: "admin", secretAccessKey: "adminsecret" }).send(new DescribeRegionsCommand({}))).Regions,
  );
});

test("a role may do what its policy allows and nothing else; denials name action, resource and role", async (t) => {
  const { sim } = await testSim(t);
  await putRole(sim.url, "reader", DESCRIBE_ONLY);
  await putRole(sim.url, "nothing");
  const s = await session(sim.url, "reader", "ops");
  const reader = ec2With(sim.url, s);
  const arn = "arn:aws:sts::000000000000:assumed-role/reader/ops";
  await rejects(
    reader.send(new TerminateInstancesCommand({ InstanceIds: ["i-0123456789abcdef0"] })),
    "UnauthorizedOperation",
    new RegExp(
      `^You are not authorized to perform this operation\\. User: ${arn} is not authorized to perform: ec2:TerminateInstances on resource: arn:aws:ec2:us-east-1:000000000000:instance/i-0123456789abcdef0 because no identity-based policy allows the ec2:TerminateInstances action$`,
    ),
  );
  const cw = cwWith(sim.url, s);
  assert.ok(await cw.send(new ListMetricsCommand({})));
  await rejects(
    cw.send(new PutMetricDataCommand({ Namespace: "spotferry", MetricData: [{ MetricName: "x", Value: 1 }] })),
    "AccessDenied",
    /cloudwatch:PutMetricData on resource: \*/,
  );
  await rejects(ec2With(sim.url, await session(sim.url, "nothing")).send(new DescribeRegionsCommand({})), "UnauthorizedOperation");
  const denials = (await (await fetch(`${sim.url}/_sim/iam/denials`)).json()) as Denial[];
  assert.deepEqual(
    denials.map((d) => [d.action, d.role]),
    [
      ["ec2:TerminateInstances", "reader"],
      ["cloudwatch:PutMetricData", "reader"],
      ["ec2:DescribeRegions", "nothing"],
    ],
  );
  const roles = (await (await fetch(`${sim.url}/_sim/iam/roles`)).json()) as { name: string; arn: string }[];
  assert.deepEqual(
    roles.map((r) => r.arn),
    ["arn:aws:iam::000000000000:role/reader", "arn:aws:iam::000000000000:role/nothing"],
  );
  const bad = await fetch(`${sim.url}/_sim/iam/roles/odd`, {
    method: "PUT",
    body: JSON.stringify({
      policy: {
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: "*", Resource: "*", Condition: { NumericLessThan: { x: "1" } } }],
      },
    }),
  });
  assert.equal(bad.status, 400, "a policy the sim cannot evaluate is refused, not half-enforced");
});

test("CreateFleet needs RunInstances on what it touches, tags on create and iam:PassRole for the node role", async (t) => {
  const { sim, ec2 } = await testSim(t);
  await putRole(sim.url, "node");
  await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: "node",
      LaunchTemplateData: {
        UserData: b64("#!/bin/bash\nsleep 1\n"),
        IamInstanceProfile: { Arn: "arn:aws:iam::000000000000:instance-profile/node" },
        TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "spotferry:pool", Value: "etl" }] }],
      },
    }),
  );
  const fleet = (tag = "etl") =>
    new CreateFleetCommand({
      Type: "instant",
      LaunchTemplateConfigs: [
        {
          LaunchTemplateSpecification: { LaunchTemplateName: "node", Version: "$Latest" },
          Overrides: [{ InstanceType: "c6i.large", SubnetId: "subnet-a" }],
        },
      ],
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: "spot" },
      TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "spotferry:pool", Value: tag }] }],
    });
  const policy = (passRole: boolean): PolicyDocument => ({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: "ec2:CreateFleet", Resource: "*" },
      {
        Effect: "Allow",
        Action: "ec2:RunInstances",
        Resource: [
          "arn:aws:ec2:*:*:launch-template/*",
          "arn:aws:ec2:*:*:subnet/*",
          "arn:aws:ec2:*::image/*",
          "arn:aws:ec2:*:*:network-interface/*",
          "arn:aws:ec2:*:*:volume/*",
        ],
      },
      {
        Effect: "Allow",
        Action: "ec2:RunInstances",
        Resource: "arn:aws:ec2:*:*:instance/*",
        Condition: { StringEquals: { "aws:RequestTag/spotferry:pool": "etl" } },
      },
      {
        Effect: "Allow",
        Action: "ec2:CreateTags",
        Resource: "*",
        Condition: { StringEquals: { "ec2:CreateAction": ["CreateFleet", "RunInstances"] } },
      },
      ...(passRole
        ? [
            {
              Effect: "Allow" as const,
              Action: "iam:PassRole",
              Resource: "arn:aws:iam::000000000000:role/node",
              Condition: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
            },
          ]
        : []),
    ],
  });
  await putRole(sim.url, "controller", policy(false));
  const controller = ec2With(sim.url, await session(sim.url, "controller"));
  await rejects(controller.send(fleet()), "UnauthorizedOperation", /iam:PassRole on resource: arn:aws:iam::000000000000:role\/node /);
  await putRole(sim.url, "controller", policy(true));
  await rejects(
    controller.send(fleet("web")),
    "UnauthorizedOperation",
    /ec2:RunInstances on resource: arn:aws:ec2:us-east-1:000000000000:instance\/\*/,
  );
  const ok = await controller.send(fleet());
  const id = ok.Instances?.[0]?.InstanceIds?.[0] ?? assert.fail(`no instance: ${JSON.stringify(ok.Errors)}`);
  const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  assert.equal(described.Reservations?.[0]?.Instances?.[0]?.IamInstanceProfile?.Arn, "arn:aws:iam::000000000000:instance-profile/node");
  assert.equal(sim.world.instances.get(id)?.role, "node");
});

test("a launch with the profile of a role the sim does not know fails like EC2's", async (t) => {
  const { ec2 } = await testSim(t);
  await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: "ghost",
      LaunchTemplateData: { IamInstanceProfile: { Name: "ghost" }, ImageId: "ami-0a1b2c3d4e5f60718", InstanceType: "c6i.large" },
    }),
  );
  await rejects(
    ec2.send(
      new CreateFleetCommand({
        Type: "instant",
        LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateName: "ghost", Version: "1" } }],
        TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: "spot" },
      }),
    ),
    "InvalidParameterValue",
    /Invalid IAM Instance Profile ARN/,
  );
});
