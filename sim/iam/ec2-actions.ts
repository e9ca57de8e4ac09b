import type {
  CreateFleetRequest,
  LaunchTemplateIamInstanceProfileSpecificationRequest,
  RequestLaunchTemplateData,
  RunInstancesRequest,
  TagSpecification,
} from "@aws-sdk/client-ec2";
import type { AuthorizationRequest } from "../../lib/iam/policy-document.ts";
import { invalidValue } from "../ec2-errors.ts";
import type { TemplateRef } from "../templates.ts";
import type { World } from "../world.ts";
import { ACCOUNT_ID, roleArn } from "./identities.ts";

/**
 * What IAM checks for each EC2 action the sim serves, as EC2 authorises it: Describe* need `*`; launching
 * (CreateFleet, RunInstances) needs ec2:RunInstances on every resource it touches or creates (launch template,
 * subnets, image, security groups, key pair, instance/volume/network-interface), with the tags on create as
 * aws:RequestTag/aws:TagKeys, ec2:CreateTags with ec2:CreateAction for those tags, and iam:PassRole on the role of
 * the instance profile. Actions on existing resources carry their tags as ec2:ResourceTag/<k>.
 */
type Tags = Record<string, string>;
type Input = Record<string, unknown>;

const DEFAULT_IMAGE = "ami-0a1b2c3d4e5f60718";

const arn = (w: World, resource: string) => `arn:aws:ec2:${w.geo.region}:${ACCOUNT_ID}:${resource}`;
const imageArn = (w: World, image: string) => `arn:aws:ec2:${w.geo.region}::image/${image}`;

function requestTagContext(tags: Tags): AuthorizationRequest["context"] {
  const ctx: Record<string, string | string[]> = { "aws:TagKeys": Object.keys(tags) };
  for (const [k, v] of Object.entries(tags)) ctx[`aws:RequestTag/${k}`] = v;
  return ctx;
}

function resourceTagContext(tags: Tags): Record<string, string> {
  const ctx: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags)) {
    ctx[`ec2:ResourceTag/${k}`] = v;
    ctx[`aws:ResourceTag/${k}`] = v;
  }
  return ctx;
}

function tagsOf(specs: TagSpecification[] | undefined, type: string): Tags {
  const out: Tags = {};
  for (const s of specs ?? []) if (s.ResourceType === type) for (const t of s.Tags ?? []) out[t.Key ?? ""] = t.Value ?? "";
  return out;
}

const mapTags = (tags: { Key?: string; Value?: string }[]) => Object.fromEntries(tags.map((t) => [t.Key ?? "", t.Value ?? ""]));

/** The template a request names, or undefined when it does not resolve (the handler then reports that itself). */
function template(w: World, ref: TemplateRef | undefined) {
  if (!ref) return undefined;
  try {
    return w.templates.resolve(ref);
  } catch {
    return undefined;
  }
}

function templateArn(w: World, ref: TemplateRef): { resource: string; tags: Tags } {
  try {
    const t = w.templates.find(ref);
    return { resource: arn(w, `launch-template/${t.id}`), tags: mapTags(t.tags) };
  } catch {
    return { resource: arn(w, `launch-template/${ref.LaunchTemplateId ?? "*"}`), tags: {} };
  }
}

/** The role an instance profile (Arn or Name) stands for, as the request names it (known or not). */
export function profileRoleName(profile: LaunchTemplateIamInstanceProfileSpecificationRequest | undefined): string | undefined {
  if (!profile) return undefined;
  return profile.Name ?? /instance-profile\/(?:.*\/)?([^/]+)$/.exec(profile.Arn ?? "")?.[1] ?? profile.Arn;
}

/** The role an instance launched with `profile` runs as; a profile of a role the sim does not know fails like EC2. */
export function launchRole(w: World, profile: LaunchTemplateIamInstanceProfileSpecificationRequest | undefined): string | undefined {
  if (!profile || (!profile.Arn && !profile.Name)) return undefined;
  const role = w.iam.roleOfProfile(profile);
  if (role === undefined) {
    const param = profile.Arn ? "iamInstanceProfile.arn" : "iamInstanceProfile.name";
    throw invalidValue(param, profile.Arn ?? profile.Name, "Invalid IAM Instance Profile ARN");
  }
  return role;
}

interface Launch {
  action: "CreateFleet" | "RunInstances";
  templateRef?: TemplateRef;
  data: RequestLaunchTemplateData;
  subnets: string[];
  images: string[];
  instanceTags: Tags;
  volumeTags: Tags;
  securityGroups: string[];
  keyName?: string;
  profile?: LaunchTemplateIamInstanceProfileSpecificationRequest;
}

/** ec2:RunInstances on each resource one launch touches, the tags-on-create check, and iam:PassRole. */
function launchRequests(w: World, l: Launch): AuthorizationRequest[] {
  const run = (resource: string, context?: AuthorizationRequest["context"]) => ({ action: "ec2:RunInstances", resource, context });
  const out: AuthorizationRequest[] = [];
  if (l.templateRef) {
    const t = templateArn(w, l.templateRef);
    out.push(run(t.resource, resourceTagContext(t.tags)));
  }
  for (const s of l.subnets) out.push(run(arn(w, `subnet/${s}`)));
  for (const i of l.images) out.push(run(imageArn(w, i)));
  for (const g of l.securityGroups) out.push(run(arn(w, `security-group/${g}`)));
  if (l.keyName) out.push(run(arn(w, `key-pair/${l.keyName}`)));
  out.push(run(arn(w, "instance/*"), requestTagContext(l.instanceTags)));
  out.push(run(arn(w, "volume/*"), requestTagContext(l.volumeTags)));
  out.push(run(arn(w, "network-interface/*"), requestTagContext({})));
  const create = (resource: string, tags: Tags) => ({
    action: "ec2:CreateTags",
    resource,
    context: { ...requestTagContext(tags), "ec2:CreateAction": l.action },
  });
  if (Object.keys(l.instanceTags).length) out.push(create(arn(w, "instance/*"), l.instanceTags));
  if (Object.keys(l.volumeTags).length) out.push(create(arn(w, "volume/*"), l.volumeTags));
  const role = profileRoleName(l.profile);
  if (role) out.push({ action: "iam:PassRole", resource: roleArn(role), context: { "iam:PassedToService": "ec2.amazonaws.com" } });
  return out;
}

function createFleetRequests(w: World, input: CreateFleetRequest): AuthorizationRequest[] {
  const fleetTags = tagsOf(input.TagSpecifications, "fleet");
  const out: AuthorizationRequest[] = [{ action: "ec2:CreateFleet", resource: arn(w, "fleet/*"), context: requestTagContext(fleetTags) }];
  if (Object.keys(fleetTags).length) {
    out.push({
      action: "ec2:CreateTags",
      resource: arn(w, "fleet/*"),
      context: { ...requestTagContext(fleetTags), "ec2:CreateAction": "CreateFleet" },
    });
  }
  for (const cfg of input.LaunchTemplateConfigs ?? []) {
    const ref = cfg.LaunchTemplateSpecification;
    const data = template(w, ref)?.version.data ?? {};
    const overrides = cfg.Overrides?.length ? cfg.Overrides : [{}];
    const templateSubnet = data.NetworkInterfaces?.[0]?.SubnetId;
    const subnets = overrides.map((o) => o.SubnetId ?? templateSubnet).filter((s): s is string => !!s);
    out.push(
      ...launchRequests(w, {
        action: "CreateFleet",
        templateRef: ref,
        data,
        subnets: [...new Set(subnets)],
        images: [...new Set(overrides.map((o) => o.ImageId ?? data.ImageId ?? DEFAULT_IMAGE))],
        instanceTags: { ...tagsOf(data.TagSpecifications, "instance"), ...tagsOf(input.TagSpecifications, "instance") },
        volumeTags: tagsOf(data.TagSpecifications, "volume"),
        securityGroups: securityGroups(data),
        keyName: data.KeyName,
        profile: data.IamInstanceProfile,
      }),
    );
  }
  return dedupe(out);
}

function securityGroups(data: RequestLaunchTemplateData, extra: string[] = []): string[] {
  const fromInterfaces = (data.NetworkInterfaces ?? []).flatMap((n) => n.Groups ?? []);
  return [...new Set([...(data.SecurityGroupIds ?? []), ...fromInterfaces, ...extra])];
}

function runInstancesRequests(w: World, input: RunInstancesRequest): AuthorizationRequest[] {
  const data = template(w, input.LaunchTemplate)?.version.data ?? {};
  const subnet = input.SubnetId ?? data.NetworkInterfaces?.[0]?.SubnetId;
  return dedupe(
    launchRequests(w, {
      action: "RunInstances",
      templateRef: input.LaunchTemplate,
      data,
      subnets: subnet ? [subnet] : [],
      images: [input.ImageId ?? data.ImageId ?? DEFAULT_IMAGE],
      instanceTags: { ...tagsOf(data.TagSpecifications, "instance"), ...tagsOf(input.TagSpecifications, "instance") },
      volumeTags: { ...tagsOf(data.TagSpecifications, "volume"), ...tagsOf(input.TagSpecifications, "volume") },
      securityGroups: securityGroups(data, input.SecurityGroupIds ?? []),
      keyName: input.KeyName ?? data.KeyName,
      profile: input.IamInstanceProfile ?? data.IamInstanceProfile,
    }),
  );
}

function dedupe(reqs: AuthorizationRequest[]): AuthorizationRequest[] {
  const seen = new Set<string>();
  return reqs.filter((r) => {
    const key = JSON.stringify([r.action, r.resource, r.context]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** An existing instance's ARN and tags; an unknown id still gets its ARN (the handler answers NotFound). */
function instanceResource(w: World, id: string): { resource: string; tags: Tags } {
  const inst = /^i-[0-9a-f]+$/.test(id) ? w.instances.get(id) : undefined;
  return { resource: arn(w, `instance/${id}`), tags: inst ? Object.fromEntries(inst.tagMap) : {} };
}

function taggableResource(w: World, id: string): { resource: string; tags: Tags } {
  if (id.startsWith("lt-")) return templateArn(w, { LaunchTemplateId: id });
  if (id.startsWith("i-")) return instanceResource(w, id);
  return { resource: arn(w, `${id.split("-")[0] ?? "resource"}/${id}`), tags: {} };
}

function tagRequests(w: World, action: "CreateTags" | "DeleteTags", input: Input): AuthorizationRequest[] {
  const tags = mapTags((input.Tags as { Key?: string; Value?: string }[] | undefined) ?? []);
  return ((input.Resources as string[] | undefined) ?? []).map((id) => {
    const r = taggableResource(w, id);
    const request = action === "CreateTags" ? requestTagContext(tags) : { "aws:TagKeys": Object.keys(tags) };
    return { action: `ec2:${action}`, resource: r.resource, context: { ...resourceTagContext(r.tags), ...request } };
  });
}

function onTemplate(w: World, action: string, input: Input): AuthorizationRequest[] {
  const t = templateArn(w, input as TemplateRef);
  return [{ action: `ec2:${action}`, resource: t.resource, context: resourceTagContext(t.tags) }];
}

function onInstances(w: World, action: string, ids: string[]): AuthorizationRequest[] {
  return ids.map((id) => {
    const r = instanceResource(w, id);
    return { action: `ec2:${action}`, resource: r.resource, context: resourceTagContext(r.tags) };
  });
}

/** The authorisation requests of one decoded EC2 call. */
export function ec2Authorization(w: World, action: string, input: Input): AuthorizationRequest[] {
  switch (action) {
    case "CreateFleet":
      return createFleetRequests(w, input as unknown as CreateFleetRequest);
    case "RunInstances":
      return runInstancesRequests(w, input as unknown as RunInstancesRequest);
    case "CreateLaunchTemplate": {
      const tags = tagsOf(input.TagSpecifications as TagSpecification[] | undefined, "launch-template");
      const out: AuthorizationRequest[] = [
        { action: "ec2:CreateLaunchTemplate", resource: arn(w, "launch-template/*"), context: requestTagContext(tags) },
      ];
      if (Object.keys(tags).length) {
        out.push({
          action: "ec2:CreateTags",
          resource: arn(w, "launch-template/*"),
          context: { ...requestTagContext(tags), "ec2:CreateAction": "CreateLaunchTemplate" },
        });
      }
      return out;
    }
    case "CreateLaunchTemplateVersion":
    case "ModifyLaunchTemplate":
    case "DeleteLaunchTemplate":
      return onTemplate(w, action, input);
    case "TerminateInstances":
      return onInstances(w, action, (input.InstanceIds as string[] | undefined) ?? []);
    case "GetConsoleOutput":
      return onInstances(w, action, input.InstanceId ? [String(input.InstanceId)] : []);
    case "CreateTags":
    case "DeleteTags":
      return tagRequests(w, action, input);
    default:
      // Describe* and the rest do not support resource-level permissions: Resource "*".
      return [{ action: `ec2:${action}`, resource: "*" }];
  }
}
