import assert from "node:assert/strict";
import { test } from "node:test";
import { CreateFleetCommand, CreateLaunchTemplateCommand, DescribeInstancesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { b64, testSim } from "../helpers/sim.ts";

/** CreateFleet (instant) over several types and subnets: allocation, capacity shortages reported per (type, zone). */

async function template(ec2: EC2Client): Promise<string> {
  const lt = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: "workers",
      LaunchTemplateData: {
        InstanceType: "m5.large",
        UserData: b64("sleep 600\n"),
        TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "spotferry:pool", Value: "workers" }] }],
      },
    }),
  );
  return lt.LaunchTemplate?.LaunchTemplateId ?? "";
}

const overrides = [
  { InstanceType: "m5.large" as const, SubnetId: "subnet-a" },
  { InstanceType: "m5.large" as const, SubnetId: "subnet-b" },
  { InstanceType: "m6i.large" as const, SubnetId: "subnet-a" },
];

test("a capacity shortage on one (type, zone) falls back to the others and is reported in Errors", async (t) => {
  const { ec2, sim } = await testSim(t);
  const ltId = await template(ec2);
  // m6i.large in 1a is the cheapest pool; it holds only one more instance. m5.large in 1a has none at all.
  sim.world.chaos.setCapacity("spot", "m6i.large", "us-east-1a", 1);
  sim.world.chaos.setCapacity("spot", "m5.large", "us-east-1a", 0);
  const fleet = await ec2.send(
    new CreateFleetCommand({
      Type: "instant",
      LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: ltId, Version: "$Latest" }, Overrides: overrides }],
      TargetCapacitySpecification: { TotalTargetCapacity: 4, DefaultTargetCapacityType: "spot" },
      SpotOptions: { AllocationStrategy: "lowest-price" },
      TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "spotferry:generation", Value: "3" }] }],
    }),
  );
  const launched = fleet.Instances?.map((i) => [i.InstanceType, i.LaunchTemplateAndOverrides?.Overrides?.SubnetId, i.InstanceIds?.length]);
  assert.deepEqual(launched, [
    ["m6i.large", "subnet-a", 1],
    ["m5.large", "subnet-b", 3],
  ]);
  const errors = fleet.Errors?.map((e) => [
    e.ErrorCode,
    e.Lifecycle,
    e.LaunchTemplateAndOverrides?.Overrides?.InstanceType,
    e.LaunchTemplateAndOverrides?.Overrides?.SubnetId,
  ]);
  assert.deepEqual(errors, [
    ["InsufficientInstanceCapacity", "spot", "m6i.large", "subnet-a"],
    ["InsufficientInstanceCapacity", "spot", "m5.large", "subnet-a"],
  ]);
  assert.ok(fleet.FleetId?.startsWith("fleet-"));

  const ids = fleet.Instances?.flatMap((i) => i.InstanceIds ?? []) ?? [];
  const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
  const instances = described.Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
  for (const i of instances) {
    assert.equal(i.InstanceLifecycle, "spot");
    const tags = Object.fromEntries(i.Tags?.map((x) => [x.Key, x.Value]) ?? []);
    assert.equal(tags["spotferry:pool"], "workers", "template tags are applied");
    assert.equal(tags["spotferry:generation"], "3", "request tags are applied");
    assert.equal(tags["aws:ec2:fleet-id"], fleet.FleetId);
  }

  // Everything is full now: an instant fleet still answers 200, with no instances and one error per pool tried.
  sim.world.chaos.setCapacity("spot", "m5.large", "us-east-1b", 3);
  const empty = await ec2.send(
    new CreateFleetCommand({
      Type: "instant",
      LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: ltId, Version: "1" }, Overrides: overrides }],
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: "spot" },
    }),
  );
  assert.deepEqual(empty.Instances, []);
  assert.equal(empty.Errors?.length, 3);
});

test("on-demand base plus spot, price-capacity-optimized, and SpotMaxPriceTooLow after a price rise", async (t) => {
  const { ec2, sim } = await testSim(t);
  const ltId = await template(ec2);
  const fleet = await ec2.send(
    new CreateFleetCommand({
      Type: "instant",
      LaunchTemplateConfigs: [
        { LaunchTemplateSpecification: { LaunchTemplateName: "workers", Version: "$Default" }, Overrides: overrides },
      ],
      TargetCapacitySpecification: { TotalTargetCapacity: 3, OnDemandTargetCapacity: 1, DefaultTargetCapacityType: "spot" },
      SpotOptions: { AllocationStrategy: "price-capacity-optimized" },
    }),
  );
  const byLifecycle = Object.fromEntries(fleet.Instances?.map((i) => [i.Lifecycle, i.InstanceIds?.length]) ?? []);
  assert.deepEqual(byLifecycle, { "on-demand": 1, spot: 2 });
  assert.deepEqual(fleet.Errors, []);

  sim.world.chaos.setPrice("m5.large", "us-east-1a", 0.5);
  const capped = await ec2.send(
    new CreateFleetCommand({
      Type: "instant",
      LaunchTemplateConfigs: [
        {
          LaunchTemplateSpecification: { LaunchTemplateId: ltId, Version: "$Latest" },
          Overrides: [{ InstanceType: "m5.large", SubnetId: "subnet-a", MaxPrice: "0.1" }],
        },
      ],
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: "spot" },
    }),
  );
  assert.equal(capped.Errors?.[0]?.ErrorCode, "SpotMaxPriceTooLow");

  const maintain = ec2.send(
    new CreateFleetCommand({
      LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: ltId, Version: "$Latest" } }],
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: "spot" },
    }),
  );
  await assert.rejects(maintain, { name: "Unsupported" });
  const noTemplate = ec2.send(
    new CreateFleetCommand({
      Type: "instant",
      LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: "lt-0123456789abcdef0", Version: "1" } }],
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: "spot" },
    }),
  );
  await assert.rejects(noTemplate, { name: "InvalidLaunchTemplateId.NotFound" });
});
