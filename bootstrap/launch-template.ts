/**
 * The launch template a pool's fleets launch from: image, instance profile (the node role), security groups, key pair,
 * IMDSv2 only, and tags on the instance and its volumes. Instance types and subnets are left to CreateFleet overrides
 * (diversification), the purchase option to the fleet request.
 */
import type { RequestLaunchTemplateData, Tag } from "@aws-sdk/client-ec2";
import type { PoolSpec } from "../config/pool-spec.ts";
import { USER_DATA_LIMIT } from "./user-data.ts";

/** The tag the controller and the sim find a pool's instances by. */
export const POOL_TAG = "spotferry:pool";
export const GENERATION_TAG = "spotferry:generation";
export const MANAGED_TAG = "spotferry:managed-by";

export interface LaunchTemplateOptions {
  /** The pool's generation (blue/green rotation), tagged on every instance. */
  generation?: number | string;
  /** Extra tags, e.g. the controller's id; pool.tags and these may not use the aws: or spotferry: prefixes. */
  tags?: Record<string, string>;
}

function checkTags(tags: Record<string, string>, what: string): void {
  for (const [k, v] of Object.entries(tags)) {
    if (!k || k.length > 128 || v.length > 256) throw new Error(`${what}: tag ${JSON.stringify(k)} is empty or too long (128/256)`);
    if (/^(aws|spotferry):/i.test(k)) throw new Error(`${what}: tag ${k} uses a reserved prefix (aws: or spotferry:)`);
  }
}

export function renderLaunchTemplateData(
  pool: PoolSpec,
  userDataBase64: string,
  opts: LaunchTemplateOptions = {},
): RequestLaunchTemplateData {
  const what = `rendering the launch template of pool ${pool.name}`;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(userDataBase64) || userDataBase64.length % 4 !== 0) {
    throw new Error(`${what}: user-data is not base64`);
  }
  const raw = Buffer.from(userDataBase64, "base64").length;
  if (raw === 0) throw new Error(`${what}: user-data is empty`);
  if (raw > USER_DATA_LIMIT) throw new Error(`${what}: user-data is ${raw} bytes, over EC2's ${USER_DATA_LIMIT}-byte limit`);
  checkTags(pool.tags, what);
  checkTags(opts.tags ?? {}, what);
  const tagMap: Record<string, string> = {
    Name: `spotferry-${pool.name}`,
    ...pool.tags,
    ...opts.tags,
    [POOL_TAG]: pool.name,
    [MANAGED_TAG]: "spotferry",
    ...(opts.generation !== undefined ? { [GENERATION_TAG]: String(opts.generation) } : {}),
  };
  if (Object.keys(tagMap).length > 50) throw new Error(`${what}: more than 50 tags`);
  const tags: Tag[] = Object.entries(tagMap).map(([Key, Value]) => ({ Key, Value }));
  return {
    ImageId: pool.imageId,
    IamInstanceProfile: pool.instanceProfileArn ? { Arn: pool.instanceProfileArn } : undefined,
    SecurityGroupIds: pool.securityGroupIds.length ? [...pool.securityGroupIds] : undefined,
    KeyName: pool.keyName,
    UserData: userDataBase64,
    // IMDSv2 only; hop limit 1 keeps the token away from containers on the node. Tags in IMDS let the node read its pool.
    MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1, InstanceMetadataTags: "enabled" },
    InstanceInitiatedShutdownBehavior: "terminate",
    TagSpecifications: [
      { ResourceType: "instance", Tags: tags },
      { ResourceType: "volume", Tags: tags },
    ],
  };
}
