import {
  type _InstanceType,
  CreateFleetCommand,
  DescribeImagesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSubnetsCommand,
  type EC2Client,
  RunInstancesCommand,
  type Tag,
} from "@aws-sdk/client-ec2";
import type { PoolSpec } from "../../config/pool-spec.ts";
import { ec2Client } from "../../lib/aws/ec2.ts";
import { TAG_GENERATION, TAG_POOL } from "../cloud/cloud-provider.ts";
import { awsError, type Check, type CheckContext, type CheckResult, errName, fail, ok, skip } from "./types.ts";

/**
 * Each pool, as EC2 sees it: a DryRun launch (CreateFleet with the pool's launch template `spotferry-<pool>` when the
 * controller has made it, else RunInstances with the pool's image, first subnet, first type, groups and profile), its
 * subnets (DescribeSubnets, one id per call so each missing one is named) and its image (DescribeImages). A DryRun
 * is authorised as the caller: run doctor as the controller's role to test that role's launch permissions.
 */
const UNSERVED = new Set(["InvalidAction", "UnsupportedOperation", "UnknownOperationException"]);
const types = (p: PoolSpec) => p.instanceTypes.map((t) => (typeof t === "string" ? t : t.type));
const poolTags = (p: PoolSpec): Tag[] => [
  { Key: TAG_POOL, Value: p.name },
  { Key: TAG_GENERATION, Value: "0" },
];

/** A DryRun's answer: DryRunOperation is the only success. */
async function dryRun(name: string, how: string, call: Promise<unknown>): Promise<CheckResult> {
  try {
    await call;
    return fail(name, `${how}: the endpoint launched for real instead of answering DryRunOperation; terminate what it started`);
  } catch (err) {
    const code = errName(err);
    if (code === "DryRunOperation") return ok(name, `${how} would succeed`);
    if (code === "UnauthorizedOperation") {
      return fail(name, `${how} is not allowed for this caller: ${awsError(err)}; grant the controller policy's launch statements`);
    }
    return fail(name, `${how} would fail: ${awsError(err)}`);
  }
}

async function launchTemplateId(ec2: EC2Client, pool: string, signal: AbortSignal): Promise<string | undefined> {
  try {
    const out = await ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: `spotferry-${pool}`, Versions: ["$Latest"] }),
      { abortSignal: signal },
    );
    return out.LaunchTemplateVersions?.[0]?.LaunchTemplateId;
  } catch (err) {
    if (errName(err).startsWith("InvalidLaunchTemplateName.NotFound")) return undefined;
    throw err;
  }
}

async function launchResult(ctx: CheckContext, ec2: EC2Client, p: PoolSpec): Promise<CheckResult> {
  const name = `pool ${p.name} launch`;
  const onDemand = p.purchase === "on-demand" ? 1 : 0;
  let templateId: string | undefined;
  try {
    templateId = await launchTemplateId(ec2, p.name, ctx.signal);
  } catch (err) {
    return fail(name, `reading launch template spotferry-${p.name}: ${awsError(err)}`);
  }
  if (templateId) {
    const fleet = new CreateFleetCommand({
      DryRun: true,
      Type: "instant",
      LaunchTemplateConfigs: [
        {
          LaunchTemplateSpecification: { LaunchTemplateId: templateId, Version: "$Latest" },
          Overrides: types(p).flatMap((t) => p.subnets.map((s) => ({ InstanceType: t as _InstanceType, SubnetId: s }))),
        },
      ],
      TargetCapacitySpecification: {
        TotalTargetCapacity: 1,
        OnDemandTargetCapacity: onDemand,
        SpotTargetCapacity: 1 - onDemand,
        DefaultTargetCapacityType: onDemand ? "on-demand" : "spot",
      },
      SpotOptions: { AllocationStrategy: p.allocationStrategy },
      TagSpecifications: [{ ResourceType: "instance", Tags: poolTags(p) }],
    });
    return dryRun(name, `CreateFleet DryRun with launch template spotferry-${p.name}`, ec2.send(fleet, { abortSignal: ctx.signal }));
  }
  const run = new RunInstancesCommand({
    DryRun: true,
    MinCount: 1,
    MaxCount: 1,
    ImageId: p.imageId,
    InstanceType: types(p)[0] as _InstanceType,
    SubnetId: p.subnets[0],
    SecurityGroupIds: p.securityGroupIds.length ? p.securityGroupIds : undefined,
    IamInstanceProfile: p.instanceProfileArn ? { Arn: p.instanceProfileArn } : undefined,
    KeyName: p.keyName,
    InstanceMarketOptions: onDemand ? undefined : { MarketType: "spot" },
    TagSpecifications: [
      { ResourceType: "instance", Tags: poolTags(p) },
      { ResourceType: "volume", Tags: poolTags(p) },
    ],
  });
  const how = `RunInstances DryRun (no launch template spotferry-${p.name} yet: the pool's image, first subnet, first type and profile)`;
  return dryRun(name, how, ec2.send(run, { abortSignal: ctx.signal }));
}

async function subnetsResult(ctx: CheckContext, ec2: EC2Client, p: PoolSpec): Promise<CheckResult> {
  const name = `pool ${p.name} subnets`;
  const answers = await Promise.all(
    p.subnets.map(async (id) => {
      try {
        const out = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [id] }), { abortSignal: ctx.signal });
        return { id, zone: out.Subnets?.[0]?.AvailabilityZone ?? "?" };
      } catch (err) {
        return { id, err };
      }
    }),
  );
  if (answers.some((a) => a.err && UNSERVED.has(errName(a.err)))) return skip(name, "the EC2 endpoint does not serve DescribeSubnets");
  const missing = answers.filter((a) => a.err && errName(a.err).startsWith("InvalidSubnetID")).map((a) => a.id);
  if (missing.length) return fail(name, `${missing.join(", ")} not found in ${ctx.region}: fix the pool's subnets`);
  const broken = answers.find((a) => a.err);
  if (broken) return fail(name, `DescribeSubnets ${broken.id} failed: ${awsError(broken.err)}`);
  return ok(name, answers.map((a) => `${a.id} (${"zone" in a ? a.zone : "?"})`).join(", "));
}

async function imageResult(ctx: CheckContext, ec2: EC2Client, p: PoolSpec): Promise<CheckResult> {
  const name = `pool ${p.name} image`;
  try {
    const out = await ec2.send(new DescribeImagesCommand({ ImageIds: [p.imageId] }), { abortSignal: ctx.signal });
    const image = out.Images?.[0];
    if (!image) return fail(name, `${p.imageId} not found or not shared with this account in ${ctx.region}`);
    if (image.State && image.State !== "available") return fail(name, `${p.imageId} is ${image.State}, not available`);
    return ok(name, `${p.imageId} (${image.Name ?? "unnamed"}, ${image.Architecture ?? "?"})`);
  } catch (err) {
    if (UNSERVED.has(errName(err))) return skip(name, "the EC2 endpoint does not serve DescribeImages (the sim: every image exists)");
    if (errName(err).startsWith("InvalidAMIID")) return fail(name, `${p.imageId}: ${awsError(err)}; fix the pool's imageId`);
    return fail(name, `DescribeImages ${p.imageId} failed: ${awsError(err)}`);
  }
}

export const poolsCheck: Check = {
  name: "pools",
  async run(ctx) {
    if (ctx.input.pools.length === 0) return [skip("pools", "no Pool spec among the --config files")];
    const ec2 = ec2Client(ctx.env);
    try {
      const perPool = await Promise.all(
        ctx.input.pools.map((p) => Promise.all([launchResult(ctx, ec2, p), subnetsResult(ctx, ec2, p), imageResult(ctx, ec2, p)])),
      );
      return perPool.flat();
    } finally {
      ec2.destroy();
    }
  },
};
