import {
  CreateLaunchTemplate$,
  type CreateLaunchTemplateRequest,
  type CreateLaunchTemplateResult,
  CreateLaunchTemplateVersion$,
  type CreateLaunchTemplateVersionRequest,
  type CreateLaunchTemplateVersionResult,
  DeleteLaunchTemplate$,
  type DeleteLaunchTemplateRequest,
  type DeleteLaunchTemplateResult,
  DescribeLaunchTemplates$,
  type DescribeLaunchTemplatesRequest,
  type DescribeLaunchTemplatesResult,
  DescribeLaunchTemplateVersions$,
  type DescribeLaunchTemplateVersionsRequest,
  type DescribeLaunchTemplateVersionsResult,
  type LaunchTemplate as Ec2LaunchTemplate,
  type LaunchTemplateVersion,
  ModifyLaunchTemplate$,
  type ModifyLaunchTemplateRequest,
  type ModifyLaunchTemplateResult,
} from "@aws-sdk/client-ec2";
import { applyFilters, type Ec2Operation, op, paginate, tagsFor } from "./ec2-common.ts";
import { combination, Ec2Error } from "./ec2-errors.ts";
import type { LaunchTemplate, TemplateVersion } from "./templates.ts";

/** Launch template calls: create, add a version, describe templates and versions, set the default, delete. */
const CREATED_BY = "arn:aws:iam::000000000000:user/spotferry-sim";

const describeTemplate = (t: LaunchTemplate): Ec2LaunchTemplate => ({
  LaunchTemplateId: t.id,
  LaunchTemplateName: t.name,
  CreateTime: new Date(t.createTime),
  CreatedBy: CREATED_BY,
  DefaultVersionNumber: t.defaultVersion,
  LatestVersionNumber: t.versions.at(-1)?.number,
  Tags: t.tags.length ? t.tags : undefined,
});

const describeVersion = (t: LaunchTemplate, v: TemplateVersion): LaunchTemplateVersion => ({
  LaunchTemplateId: t.id,
  LaunchTemplateName: t.name,
  VersionNumber: v.number,
  VersionDescription: v.description,
  CreateTime: new Date(v.createTime),
  CreatedBy: CREATED_BY,
  DefaultVersion: v.number === t.defaultVersion,
  // Request and response shapes share the members the sim uses; the encoder drops any the response lacks.
  LaunchTemplateData: v.data as LaunchTemplateVersion["LaunchTemplateData"],
});

export const templateOperations: Record<string, Ec2Operation> = {
  CreateLaunchTemplate: op<CreateLaunchTemplateRequest, CreateLaunchTemplateResult>(CreateLaunchTemplate$, (w, input) => {
    const tags = tagsFor(input.TagSpecifications, "launch-template");
    const t = w.templates.create(input.LaunchTemplateName, input.LaunchTemplateData, input.VersionDescription, tags);
    w.events.add("launch-template-created", { launchTemplateId: t.id, name: t.name });
    return { LaunchTemplate: describeTemplate(t) };
  }),

  CreateLaunchTemplateVersion: op<CreateLaunchTemplateVersionRequest, CreateLaunchTemplateVersionResult>(
    CreateLaunchTemplateVersion$,
    (w, input) => {
      const { template, version } = w.templates.addVersion(input, input.LaunchTemplateData, input.SourceVersion, input.VersionDescription);
      return { LaunchTemplateVersion: describeVersion(template, version) };
    },
  ),

  ModifyLaunchTemplate: op<ModifyLaunchTemplateRequest, ModifyLaunchTemplateResult>(ModifyLaunchTemplate$, (w, input) => {
    const t = w.templates.find(input);
    if (input.DefaultVersion) t.defaultVersion = w.templates.version(t, input.DefaultVersion).number;
    return { LaunchTemplate: describeTemplate(t) };
  }),

  DeleteLaunchTemplate: op<DeleteLaunchTemplateRequest, DeleteLaunchTemplateResult>(DeleteLaunchTemplate$, (w, input) => {
    const t = w.templates.find(input);
    w.templates.remove(t.id);
    return { LaunchTemplate: describeTemplate(t) };
  }),

  DescribeLaunchTemplates: op<DescribeLaunchTemplatesRequest, DescribeLaunchTemplatesResult>(DescribeLaunchTemplates$, (w, input) => {
    if (input.LaunchTemplateIds?.length && input.LaunchTemplateNames?.length) {
      throw combination("Specify either launch template IDs or launch template names, not both.");
    }
    let templates = w.templates.all();
    if (input.LaunchTemplateIds?.length) {
      templates = input.LaunchTemplateIds.map((id) => w.templates.find({ LaunchTemplateId: id }));
    } else if (input.LaunchTemplateNames?.length) {
      templates = input.LaunchTemplateNames.map((name) => w.templates.find({ LaunchTemplateName: name }));
    }
    const filtered = applyFilters(
      templates,
      input.Filters,
      {
        "launch-template-name": (t) => t.name,
        "create-time": (t) => new Date(t.createTime).toISOString(),
      },
      (t) => new Map(t.tags.map((x) => [x.Key ?? "", x.Value ?? ""])),
    );
    const { page, NextToken } = paginate(filtered, input, [input.Filters, input.LaunchTemplateIds], { min: 1, max: 200 });
    return { LaunchTemplates: page.map(describeTemplate), NextToken };
  }),

  DescribeLaunchTemplateVersions: op<DescribeLaunchTemplateVersionsRequest, DescribeLaunchTemplateVersionsResult>(
    DescribeLaunchTemplateVersions$,
    (w, input) => {
      const t = w.templates.find(input);
      let versions = t.versions;
      if (input.Versions?.length) {
        versions = input.Versions.map((v) => w.templates.version(t, v));
      } else {
        const min = input.MinVersion ? Number(input.MinVersion) : 1;
        const max = input.MaxVersion ? Number(input.MaxVersion) : Number.POSITIVE_INFINITY;
        if (!Number.isInteger(min) || Number.isNaN(max)) {
          throw new Ec2Error("InvalidParameterValue", "MinVersion and MaxVersion must be version numbers");
        }
        versions = versions.filter((v) => v.number >= min && v.number <= max);
      }
      const sorted = [...versions].sort((a, b) => b.number - a.number);
      const { page, NextToken } = paginate(sorted, input, [input.Versions, input.MinVersion, input.MaxVersion, t.id], {
        min: 1,
        max: 200,
      });
      return { LaunchTemplateVersions: page.map((v) => describeVersion(t, v)), NextToken };
    },
  ),
};
