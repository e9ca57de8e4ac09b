import type { ExportSpec } from "../../config/export-spec.ts";
import type { PoolSpec } from "../../config/pool-spec.ts";
import type { SecretRef } from "../../config/secret.ts";
import type { ControllerSettings } from "../../config/settings.ts";

/**
 * What `spotferry iam policy` builds a document from, and the ARN vocabulary both documents share.
 *
 * Account and region default to `*`: every ARN the documents name is still pinned by its resource name (the state
 * table, the bucket and prefix, the pool's subnets and image), so a wildcard account widens nothing an operator would
 * notice in one account, while a policy printed without `--account` can be pasted in any account. ARNs that carry their
 * own account (the instance profile, a secret, a KMS key) keep it.
 */
export interface PolicyInput {
  settings: ControllerSettings;
  pools: PoolSpec[];
  exports: ExportSpec[];
  /** 12-digit account id, or "*" (default). */
  account?: string;
  /** Region the controller and the nodes run in, or "*" (default). */
  region?: string;
  /**
   * The node role, for iam:PassRole. Default: the role with the path and name of each pool's instance profile (what the
   * console and most templates create); pass it when the profile holds a role of another name.
   */
  nodeRoleArn?: string;
}

export interface Scope {
  partition: string;
  region: string;
  account: string;
}

/** The AWS partition ("aws", "aws-cn", "aws-us-gov") from the first ARN in the input, else "aws". */
function partitionOf(input: PolicyInput): string {
  const arns = [
    input.nodeRoleArn,
    ...input.pools.map((p) => p.instanceProfileArn),
    ...input.exports.flatMap((e) => secretArns(e.source.password)),
  ];
  for (const a of arns) {
    const m = a ? /^arn:(aws[a-z-]*):/.exec(a) : null;
    if (m) return m[1]!;
  }
  return "aws";
}

export function scopeOf(input: PolicyInput): Scope {
  return { partition: partitionOf(input), region: input.region ?? "*", account: input.account ?? "*" };
}

const secretArns = (ref: SecretRef | undefined): string[] =>
  ref && "secretArn" in ref
    ? [ref.secretArn]
    : ref && "ssmParameter" in ref && ref.ssmParameter.startsWith("arn:")
      ? [ref.ssmParameter]
      : [];

export const tableArn = (s: Scope, table: string) => `arn:${s.partition}:dynamodb:${s.region}:${s.account}:table/${table}`;

export const ec2Arn = (s: Scope, resource: string) => `arn:${s.partition}:ec2:${s.region}:${s.account}:${resource}`;

/** AMIs belong to no account in their ARN (public and shared images are launched by id). */
export const imageArn = (s: Scope, imageId: string) => `arn:${s.partition}:ec2:${s.region}::image/${imageId}`;

export const s3Arn = (s: Scope, bucketAndKey: string) => `arn:${s.partition}:s3:::${bucketAndKey}`;

/** An SSM parameter ARN as AWS writes it: `parameter/` then the name without its leading slash. */
export function ssmParameterArn(s: Scope, parameter: string): string {
  if (parameter.startsWith("arn:")) return parameter;
  return `arn:${s.partition}:ssm:${s.region}:${s.account}:parameter/${parameter.replace(/^\//, "")}`;
}

/** The role an instance profile ARN names by convention: same path and name, `role/` instead of `instance-profile/`. */
export function roleOfInstanceProfile(profileArn: string): string {
  const m = /^(arn:aws[a-z-]*:iam::[^:]*:)instance-profile\/(.+)$/.exec(profileArn);
  if (!m) throw new Error(`deriving the node role from instance profile ${profileArn}: not an instance-profile ARN`);
  return `${m[1]}role/${m[2]}`;
}

/** Sorted, without duplicates: documents print the same for the same input, whatever the order of the files. */
export const uniq = (values: Iterable<string>): string[] => [...new Set(values)].sort();
