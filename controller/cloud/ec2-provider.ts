import { createHash } from "node:crypto";
import {
  type _InstanceType,
  CreateFleetCommand,
  type CreateFleetCommandOutput,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSubnetsCommand,
  type EC2Client,
  paginateDescribeInstances,
  paginateDescribeSpotPriceHistory,
  type RequestLaunchTemplateData,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { type Clock, systemClock } from "../../lib/clock.ts";
import {
  type CloudInstance,
  type CloudProvider,
  type InstanceState,
  type LaunchError,
  type LaunchedInstance,
  type LaunchRequest,
  type LaunchResult,
  type LaunchTemplateInput,
  type LaunchTemplateRef,
  type SpotPrice,
  TAG_EXPORT,
  TAG_GENERATION,
  TAG_POOL,
} from "./cloud-provider.ts";

export interface Ec2ProviderDeps {
  ec2: EC2Client;
  /**
   * On-demand prices (USD per hour) by instance type, for cost accounting: EC2's own API does not publish them (the
   * Pricing API does, in one region only). Unknown types cost 0 in the estimate, and the CLI says so.
   */
  onDemandPrices?: Record<string, number>;
  /** "Now" for price look-ups (the sim's clock in tests). */
  clock?: Clock;
}

const errName = (err: unknown) => (err as { name?: string; Code?: string } | null)?.name ?? "";

const toTags = (tags: Record<string, string>) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

/** CloudProvider over EC2 (or anything speaking its Query API, like sim/). */
export class Ec2Provider implements CloudProvider {
  private readonly ec2: EC2Client;
  private readonly onDemand: Record<string, number>;
  private readonly subnetZones = new Map<string, string>();
  private readonly clock: Clock;

  constructor(deps: Ec2ProviderDeps) {
    this.ec2 = deps.ec2;
    this.onDemand = deps.onDemandPrices ?? {};
    this.clock = deps.clock ?? systemClock;
  }

  async ensureLaunchTemplate(name: string, input: LaunchTemplateInput): Promise<LaunchTemplateRef> {
    const data: RequestLaunchTemplateData = {
      ImageId: input.imageId,
      UserData: Buffer.from(input.userData).toString("base64"),
      SecurityGroupIds: input.securityGroupIds?.length ? input.securityGroupIds : undefined,
      IamInstanceProfile: input.instanceProfileArn ? { Arn: input.instanceProfileArn } : undefined,
      KeyName: input.keyName,
      // IMDSv2 only (hop limit 1 keeps the token away from containers); instance tags readable from IMDS so a node
      // can learn its pool without any secret in user-data. A node that powers itself off is gone, never stopped.
      MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1, InstanceMetadataTags: "enabled" },
      InstanceInitiatedShutdownBehavior: "terminate",
      TagSpecifications:
        input.tags && Object.keys(input.tags).length
          ? [
              { ResourceType: "instance", Tags: toTags(input.tags) },
              { ResourceType: "volume", Tags: toTags(input.tags) },
            ]
          : undefined,
    };
    // The digest rides in the version description, so "is the latest version already this?" needs no data diff.
    const digest = createHash("sha256").update(JSON.stringify(data)).digest("hex").slice(0, 32);
    const description = `spotferry ${digest}`;
    try {
      let latest: { id: string; version: number; description: string | undefined } | null = null;
      try {
        const out = await this.ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: ["$Latest"] }));
        const v = out.LaunchTemplateVersions?.[0];
        if (v?.LaunchTemplateId && v.VersionNumber !== undefined) {
          latest = { id: v.LaunchTemplateId, version: v.VersionNumber, description: v.VersionDescription };
        }
      } catch (err) {
        if (!errName(err).startsWith("InvalidLaunchTemplateName.NotFound")) throw err;
      }
      if (!latest) {
        try {
          const out = await this.ec2.send(
            new CreateLaunchTemplateCommand({ LaunchTemplateName: name, VersionDescription: description, LaunchTemplateData: data }),
          );
          const t = out.LaunchTemplate;
          return { id: t?.LaunchTemplateId ?? "", name, version: String(t?.LatestVersionNumber ?? 1), created: true };
        } catch (err) {
          // Another controller created it between our describe and create: fall through to a new version.
          if (!errName(err).startsWith("InvalidLaunchTemplateName.AlreadyExists")) throw err;
          return this.ensureLaunchTemplate(name, input);
        }
      }
      if (latest.description === description) return { id: latest.id, name, version: String(latest.version), created: false };
      const out = await this.ec2.send(
        new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: latest.id, VersionDescription: description, LaunchTemplateData: data }),
      );
      const v = out.LaunchTemplateVersion;
      return { id: latest.id, name, version: String(v?.VersionNumber ?? latest.version + 1), created: true };
    } catch (cause) {
      throw new Error(`ensuring launch template ${name}`, { cause });
    }
  }

  async launch(req: LaunchRequest): Promise<LaunchResult> {
    if (req.count <= 0) return { instances: [], errors: [] };
    const tags: Record<string, string> = { ...req.tags, [TAG_POOL]: req.pool, [TAG_GENERATION]: String(req.generation) };
    if (req.exportId) tags[TAG_EXPORT] = req.exportId;
    const onDemand = Math.min(req.onDemandCount, req.count);
    let out: CreateFleetCommandOutput;
    try {
      out = await this.ec2.send(
        new CreateFleetCommand({
          Type: "instant",
          ClientToken: req.clientToken,
          LaunchTemplateConfigs: [
            {
              LaunchTemplateSpecification: { LaunchTemplateId: req.template.id, Version: req.template.version },
              Overrides: req.overrides.map((o) => ({
                InstanceType: o.instanceType as _InstanceType,
                SubnetId: o.subnetId,
                MaxPrice: o.maxPrice === undefined ? undefined : String(o.maxPrice),
                Priority: o.priority,
              })),
            },
          ],
          TargetCapacitySpecification: {
            TotalTargetCapacity: req.count,
            OnDemandTargetCapacity: onDemand,
            SpotTargetCapacity: req.count - onDemand,
            DefaultTargetCapacityType: onDemand === req.count ? "on-demand" : "spot",
          },
          SpotOptions: { AllocationStrategy: req.allocationStrategy },
          OnDemandOptions: { AllocationStrategy: "lowest-price" },
          TagSpecifications: [{ ResourceType: "instance", Tags: toTags(tags) }],
        }),
      );
    } catch (cause) {
      throw new Error(`launching ${req.count} instances for pool ${req.pool} (generation ${req.generation})`, { cause });
    }
    const instances: LaunchedInstance[] = [];
    for (const group of out.Instances ?? []) {
      const subnetId = group.LaunchTemplateAndOverrides?.Overrides?.SubnetId ?? "";
      const zone = group.LaunchTemplateAndOverrides?.Overrides?.AvailabilityZone ?? (subnetId ? await this.zoneOfSubnet(subnetId) : "");
      for (const id of group.InstanceIds ?? []) {
        instances.push({
          instanceId: id,
          instanceType: String(group.InstanceType ?? group.LaunchTemplateAndOverrides?.Overrides?.InstanceType ?? ""),
          subnetId,
          zone,
          market: group.Lifecycle === "on-demand" ? "on-demand" : "spot",
        });
      }
    }
    const errors: LaunchError[] = [];
    for (const e of out.Errors ?? []) {
      const o = e.LaunchTemplateAndOverrides?.Overrides;
      const subnetId = o?.SubnetId ?? null;
      errors.push({
        code: e.ErrorCode ?? "Unknown",
        message: e.ErrorMessage ?? "",
        market: e.Lifecycle === "on-demand" ? "on-demand" : "spot",
        instanceType: o?.InstanceType ?? null,
        subnetId,
        zone: o?.AvailabilityZone ?? (subnetId ? await this.zoneOfSubnet(subnetId).catch(() => null) : null),
      });
    }
    return { instances, errors };
  }

  async describePoolInstances(pool: string): Promise<CloudInstance[]> {
    const result: CloudInstance[] = [];
    try {
      const pages = paginateDescribeInstances(
        { client: this.ec2, pageSize: 500 },
        { Filters: [{ Name: `tag:${TAG_POOL}`, Values: [pool] }], MaxResults: 500 },
      );
      for await (const page of pages) {
        for (const r of page.Reservations ?? []) {
          for (const i of r.Instances ?? []) {
            if (!i.InstanceId) continue;
            result.push({
              instanceId: i.InstanceId,
              state: (i.State?.Name ?? "pending") as InstanceState,
              stateReason: i.StateReason?.Code ?? null,
              instanceType: String(i.InstanceType ?? ""),
              zone: i.Placement?.AvailabilityZone ?? "",
              market: i.InstanceLifecycle === "spot" ? "spot" : "on-demand",
              launchedAt: i.LaunchTime?.getTime() ?? 0,
              tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
            });
          }
        }
      }
    } catch (cause) {
      throw new Error(`describing the instances of pool ${pool}`, { cause });
    }
    return result;
  }

  async terminate(instanceIds: string[]): Promise<void> {
    // One call per id would be slow; one call for all fails whole when any id is unknown, so retry the rest alone.
    for (let i = 0; i < instanceIds.length; i += 500) {
      const batch = instanceIds.slice(i, i + 500);
      try {
        await this.ec2.send(new TerminateInstancesCommand({ InstanceIds: batch }));
      } catch (err) {
        if (!errName(err).startsWith("InvalidInstanceID")) throw new Error(`terminating ${batch.join(", ")}`, { cause: err });
        for (const id of batch.length > 1 ? batch : []) await this.terminate([id]);
      }
    }
  }

  async spotPrices(instanceTypes: string[], zones?: string[]): Promise<SpotPrice[]> {
    const latest = new Map<string, SpotPrice>();
    try {
      const pages = paginateDescribeSpotPriceHistory(
        { client: this.ec2 },
        {
          InstanceTypes: instanceTypes as _InstanceType[],
          ProductDescriptions: ["Linux/UNIX"],
          // Only the price in force now matters: a start time of "now" returns the last point of every pool.
          StartTime: new Date(this.clock.now()),
        },
      );
      for await (const page of pages) {
        for (const p of page.SpotPriceHistory ?? []) {
          const zone = p.AvailabilityZone ?? "";
          if (zones && !zones.includes(zone)) continue;
          const key = `${p.InstanceType}|${zone}`;
          const at = p.Timestamp?.getTime() ?? 0;
          const prev = latest.get(key);
          if (!prev || prev.at < at) latest.set(key, { instanceType: String(p.InstanceType), zone, price: Number(p.SpotPrice), at });
        }
      }
    } catch (cause) {
      throw new Error(`reading spot prices of ${instanceTypes.join(", ")}`, { cause });
    }
    return [...latest.values()];
  }

  onDemandPrice(instanceType: string): number | null {
    return this.onDemand[instanceType] ?? null;
  }

  async zoneOfSubnet(subnetId: string): Promise<string> {
    const cached = this.subnetZones.get(subnetId);
    if (cached) return cached;
    try {
      const out = await this.ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] }));
      const zone = out.Subnets?.[0]?.AvailabilityZone;
      if (!zone) throw new Error("no such subnet");
      this.subnetZones.set(subnetId, zone);
      return zone;
    } catch (cause) {
      throw new Error(`finding the zone of subnet ${subnetId}`, { cause });
    }
  }
}
