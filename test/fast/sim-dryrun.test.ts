import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CreateFleetCommand,
  type CreateFleetCommandInput,
  CreateLaunchTemplateCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  EC2Client,
  RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import type { PolicyDocument } from "../../lib/iam/policy-document.ts";
import { defaultGeography } from "../../sim/catalogue.ts";
import { generatedIdentities } from "../../sim/iam/identities.ts";
import { b64, testSim } from "../helpers/sim.ts";

/**
 * DryRun as EC2 answers it: permissions first (UnauthorizedOperation, 403), then the request's own checks (the
 * launch template, subnets, instance types, the instance profile's role), and only then DryRunOperation (412),
 * launching nothing and leaving the ClientToken unused. A geography with `onlyListedSubnets` knows its subnets
 * the way an account's VPC does: any other id is InvalidSubnetID.NotFound.
 */
const code = async (p: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> => {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error("expected the call to fail");
};

const fleet = (
  templateId: string,
  overrides: { InstanceType?: string; SubnetId?: string }[],
  extra: Partial<CreateFleetCommandInput> = {},
) =>
  new CreateFleetCommand({
    Type: "instant",
    LaunchTemplateConfigs: [
      {
        LaunchTemplateSpecification: { LaunchTemplateId: templateId, Version: "$Latest" },
        Overrides: overrides.map((o) => ({ ...o, InstanceType: o.InstanceType as "m5.large" })),
      },
    ],
    TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: "spot" },
    ...extra,
  });

const DESCRIBE_ONLY: PolicyDocument = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "ec2:Describe*", Resource: "*" }] };

test("CreateFleet DryRun: permissions, then validation, then DryRunOperation with nothing launched", async (t) => {
  const geography = { ...defaultGeography("us-east-1"), onlyListedSubnets: true };
  const { sim, ec2 } = await testSim(t, { geography, identities: generatedIdentities(), roles: { viewer: DESCRIBE_ONLY } });
  const lt = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: "spotferry-etl",
      LaunchTemplateData: { InstanceType: "m5.large", ImageId: "ami-0abc", UserData: b64("sleep 600\n") },
    }),
  );
  const id = lt.LaunchTemplate?.LaunchTemplateId ?? "";

  const ok = await code(ec2.send(fleet(id, [{ SubnetId: "subnet-a" }], { DryRun: true, ClientToken: "dry-1" })));
  assert.deepEqual([ok.name, ok.status, ok.message], ["DryRunOperation", 412, "Request would have succeeded, but DryRun flag is set."]);
  const none = await ec2.send(new DescribeInstancesCommand({}));
  assert.equal(none.Reservations?.length ?? 0, 0, "a DryRun launches nothing");
  // The token a DryRun carried is still free: the real call with it launches.
  const real = await ec2.send(fleet(id, [{ SubnetId: "subnet-a" }], { ClientToken: "dry-1" }));
  assert.equal(real.Instances?.[0]?.InstanceIds?.length, 1);

  const noTemplate = await code(ec2.send(fleet("lt-0000000000000dead", [{ SubnetId: "subnet-a" }], { DryRun: true })));
  assert.equal(noTemplate.name, "InvalidLaunchTemplateId.NotFound");
  const noSubnet = await code(ec2.send(fleet(id, [{ SubnetId: "subnet-0dead" }], { DryRun: true })));
  assert.deepEqual([noSubnet.name, noSubnet.message], ["InvalidSubnetID.NotFound", "The subnet ID 'subnet-0dead' does not exist"]);
  const badType = await code(ec2.send(fleet(id, [{ SubnetId: "subnet-b", InstanceType: "x9.huge" }], { DryRun: true })));
  assert.equal(badType.name, "InvalidParameterValue");

  // A role that may not launch hears UnauthorizedOperation first, whatever else is wrong with the request.
  const res = await fetch(`${sim.url}/_sim/iam/roles/viewer/session`, { method: "POST", body: JSON.stringify({ sessionName: "viewer" }) });
  const s = (await res.json()) as { AccessKeyId: string; SecretAccessKey: string; Token: string };
  const viewer = new EC2Client({
    region: "us-east-1",
    endpoint: sim.url,
    credentials: { accessKeyId: s.AccessKeyId, secretAccessKey: s.SecretAccessKey, sessionToken: s.Token },
    maxAttempts: 1,
  });
  t.after(() => viewer.destroy());
  const denied = await code(viewer.send(fleet(id, [{ SubnetId: "subnet-0dead" }], { DryRun: true })));
  assert.deepEqual([denied.name, denied.status], ["UnauthorizedOperation", 403]);
  assert.match(denied.message, /not authorized to perform: ec2:CreateFleet/);
});

test("RunInstances DryRun validates type, subnet and profile; DescribeSubnets knows only the listed subnets; DescribeImages", async (t) => {
  const geography = { ...defaultGeography("us-east-1"), onlyListedSubnets: true };
  const { ec2 } = await testSim(t, { geography, identities: generatedIdentities(), roles: { node: null } });
  const run = (over: Record<string, unknown>) =>
    code(
      ec2.send(
        new RunInstancesCommand({
          DryRun: true,
          MinCount: 1,
          MaxCount: 1,
          ImageId: "ami-0abc",
          InstanceType: "m5.large",
          SubnetId: "subnet-a",
          IamInstanceProfile: { Arn: "arn:aws:iam::000000000000:instance-profile/node" },
          ...over,
        }),
      ),
    );
  assert.equal((await run({})).name, "DryRunOperation");
  assert.equal((await run({ InstanceType: "x9.huge" })).name, "InvalidParameterValue");
  assert.equal((await run({ SubnetId: "subnet-0dead" })).name, "InvalidSubnetID.NotFound");
  const profile = await run({ IamInstanceProfile: { Arn: "arn:aws:iam::000000000000:instance-profile/ghost" } });
  assert.deepEqual([profile.name, /Invalid IAM Instance Profile ARN/.test(profile.message)], ["InvalidParameterValue", true]);
  assert.equal((await ec2.send(new DescribeInstancesCommand({}))).Reservations?.length ?? 0, 0);

  const listed = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: ["subnet-b"] }));
  assert.equal(listed.Subnets?.[0]?.AvailabilityZone, "us-east-1b");
  assert.equal((await code(ec2.send(new DescribeSubnetsCommand({ SubnetIds: ["subnet-0dead"] })))).name, "InvalidSubnetID.NotFound");
  // No image catalogue: any well-formed id is an available image, a malformed one is refused as EC2 refuses it.
  const images = await ec2.send(new DescribeImagesCommand({ ImageIds: ["ami-0abc"] }));
  assert.deepEqual([images.Images?.[0]?.ImageId, images.Images?.[0]?.State], ["ami-0abc", "available"]);
  assert.equal((await code(ec2.send(new DescribeImagesCommand({ ImageIds: ["img-1"] })))).name, "InvalidAMIID.Malformed");
});
