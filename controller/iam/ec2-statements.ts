import type { PoolSpec } from "../../config/pool-spec.ts";
import type { PolicyStatement } from "../../lib/iam/policy-document.ts";
import { TAG_POOL } from "../cloud/cloud-provider.ts";
import { ec2Arn, imageArn, roleOfInstanceProfile, type Scope, uniq } from "./scope.ts";

/**
 * The controller's EC2 half (controller/cloud/ec2-provider.ts, controller/oncall/ssh-target.ts, bootstrap/host-keys.ts):
 *
 * - Describe* (DescribeInstances, DescribeSpotPriceHistory, DescribeSubnets, DescribeLaunchTemplateVersions) support
 *   no resource-level permissions: "*".
 * - CreateLaunchTemplate / CreateLaunchTemplateVersion (`spotferry-<pool>`): a launch template's ARN holds its id,
 *   never its name, and the controller does not tag the template itself, so `launch-template/*`.
 * - CreateFleet (instant) is authorised as ec2:CreateFleet plus ec2:RunInstances on every resource the launch touches:
 *   the new instances only with the pool tag the controller puts on them (`aws:RequestTag/spotferry:pool`), the
 *   pool's subnets, security groups, image and key pair by name, volumes, network interfaces and spot requests by type.
 * - CreateTags only as part of that launch (`ec2:CreateAction`); TerminateInstances and GetConsoleOutput (the node's
 *   SSH host key for `spotferry logs`) only on instances carrying a pool's tag (`ec2:ResourceTag/spotferry:pool`).
 * - iam:PassRole on the node role only, only to EC2 (`iam:PassedToService`).
 */
export function ec2Statements(scope: Scope, pools: PoolSpec[], nodeRoleArn?: string): PolicyStatement[] {
  const poolNames = uniq(pools.map((p) => p.name));
  const poolTag = { [`aws:RequestTag/${TAG_POOL}`]: poolNames };
  const taggedPool = { [`ec2:ResourceTag/${TAG_POOL}`]: poolNames };
  const instances = ec2Arn(scope, "instance/*");
  const out: PolicyStatement[] = [
    {
      Sid: "DescribeFleetState",
      Effect: "Allow",
      Action: ["ec2:DescribeInstances", "ec2:DescribeLaunchTemplateVersions", "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets"],
      Resource: "*",
    },
    { Sid: "PoolLaunchTemplates", Effect: "Allow", Action: "ec2:CreateLaunchTemplate", Resource: ec2Arn(scope, "launch-template/*") },
    {
      // A new version only when a re-render changes the template's data (a new spec, or a bundle URL presigned anew);
      // a rotation reuses the same data, so a run may end without one.
      Sid: "RareNewLaunchTemplateVersion",
      Effect: "Allow",
      Action: "ec2:CreateLaunchTemplateVersion",
      Resource: ec2Arn(scope, "launch-template/*"),
    },
    // The fleet itself carries no tags (only its instances do): what it may launch is bounded by RunInstances below.
    { Sid: "CreateInstantFleets", Effect: "Allow", Action: "ec2:CreateFleet", Resource: ec2Arn(scope, "fleet/*") },
    { Sid: "LaunchTaggedNodes", Effect: "Allow", Action: "ec2:RunInstances", Resource: instances, Condition: { StringEquals: poolTag } },
    { Sid: "LaunchFromPoolResources", Effect: "Allow", Action: "ec2:RunInstances", Resource: launchResources(scope, pools) },
    {
      Sid: "TagNodesAtLaunch",
      Effect: "Allow",
      Action: "ec2:CreateTags",
      Resource: [instances, ec2Arn(scope, "volume/*")],
      Condition: { StringEquals: { "ec2:CreateAction": ["CreateFleet", "RunInstances"] } },
    },
    {
      Sid: "TerminatePoolNodes",
      Effect: "Allow",
      Action: ["ec2:GetConsoleOutput", "ec2:TerminateInstances"],
      Resource: instances,
      Condition: { StringEquals: taggedPool },
    },
  ];
  const roles = nodeRoles(pools, nodeRoleArn);
  if (roles.length) {
    out.push({
      Sid: "PassNodeRoleToEc2",
      Effect: "Allow",
      Action: "iam:PassRole",
      Resource: roles,
      Condition: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
    });
  }
  out.push({
    // An account's first fleet creates EC2's service-linked roles for Spot and EC2 Fleet; afterwards never again.
    Sid: "RareCreateFleetServiceLinkedRoles",
    Effect: "Allow",
    Action: "iam:CreateServiceLinkedRole",
    Resource: `arn:${scope.partition}:iam::${scope.account}:role/aws-service-role/*`,
    Condition: { StringEquals: { "iam:AWSServiceName": ["ec2fleet.amazonaws.com", "spot.amazonaws.com"] } },
  });
  return out;
}

/** What RunInstances touches besides the instance: named where the pool names it, by type where EC2 creates it. */
function launchResources(scope: Scope, pools: PoolSpec[]): string[] {
  const out = [
    ec2Arn(scope, "launch-template/*"),
    ec2Arn(scope, "network-interface/*"),
    ec2Arn(scope, "spot-instances-request/*"),
    ec2Arn(scope, "volume/*"),
  ];
  for (const p of pools) {
    out.push(imageArn(scope, p.imageId), ...p.subnets.map((s) => ec2Arn(scope, `subnet/${s}`)));
    // No security group named: EC2 attaches the VPC's default one, whose id the spec does not know.
    if (p.securityGroupIds.length === 0) out.push(ec2Arn(scope, "security-group/*"));
    out.push(...p.securityGroupIds.map((g) => ec2Arn(scope, `security-group/${g}`)));
    if (p.keyName) out.push(ec2Arn(scope, `key-pair/${p.keyName}`));
  }
  return uniq(out);
}

function nodeRoles(pools: PoolSpec[], nodeRoleArn: string | undefined): string[] {
  const profiles = pools.map((p) => p.instanceProfileArn).filter((a): a is string => a !== undefined);
  if (profiles.length === 0) return [];
  return nodeRoleArn ? [nodeRoleArn] : uniq(profiles.map(roleOfInstanceProfile));
}
