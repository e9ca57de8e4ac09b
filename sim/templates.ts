import type { RequestLaunchTemplateData, Tag } from "@aws-sdk/client-ec2";
import type { Clock } from "../lib/clock.ts";
import { combination, Ec2Error, invalidValue, missing } from "./ec2-errors.ts";
import { newId } from "./instances.ts";

/**
 * Launch templates and their numbered versions, validated as EC2 validates them. Version data is kept in the request
 * shape; the response encoder keeps the members the response shape shares with it (which is all the sim uses).
 */
export interface TemplateVersion {
  number: number;
  description?: string;
  createTime: number;
  data: RequestLaunchTemplateData;
}

export interface LaunchTemplate {
  id: string;
  name: string;
  createTime: number;
  defaultVersion: number;
  versions: TemplateVersion[];
  tags: Tag[];
}

export interface TemplateRef {
  LaunchTemplateId?: string;
  LaunchTemplateName?: string;
  Version?: string;
}

const NAME = /^[a-zA-Z0-9().\-/_]{3,128}$/;
const TEMPLATE_ID = /^lt-[0-9a-f]{8,17}$/;
/** EC2 limits user data to 16 KiB before base64 encoding. */
export const USER_DATA_LIMIT = 16384;

export function checkUserData(userData: string | undefined, param: string): void {
  if (userData === undefined) return;
  if (!/^[A-Za-z0-9+/\r\n]*={0,2}\s*$/.test(userData)) {
    throw new Ec2Error("InvalidUserData.Malformed", `Invalid BASE64 encoding of user data (${param}).`);
  }
  if (Buffer.from(userData, "base64").length > USER_DATA_LIMIT) {
    throw new Ec2Error("InvalidParameterValue", `User data is limited to ${USER_DATA_LIMIT} bytes (${param}).`);
  }
}

export class LaunchTemplates {
  private readonly clock: Clock;
  private readonly byId = new Map<string, LaunchTemplate>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  create(name: string | undefined, data: RequestLaunchTemplateData | undefined, description?: string, tags: Tag[] = []) {
    if (!name) throw missing("LaunchTemplateName");
    if (!data) throw missing("LaunchTemplateData");
    if (!NAME.test(name)) throw invalidValue("LaunchTemplateName", name, "Names are 3-128 of a-z A-Z 0-9 ( ) . - / _");
    if ([...this.byId.values()].some((t) => t.name === name)) {
      throw new Ec2Error("InvalidLaunchTemplateName.AlreadyExistsException", `Launch template name already in use: ${name}`);
    }
    checkUserData(data.UserData, "LaunchTemplateData.UserData");
    const now = this.clock.now();
    const template: LaunchTemplate = {
      id: newId("lt"),
      name,
      createTime: now,
      defaultVersion: 1,
      versions: [{ number: 1, description, createTime: now, data }],
      tags,
    };
    this.byId.set(template.id, template);
    return template;
  }

  addVersion(ref: TemplateRef, data: RequestLaunchTemplateData | undefined, sourceVersion?: string, description?: string) {
    if (!data) throw missing("LaunchTemplateData");
    const template = this.find(ref);
    checkUserData(data.UserData, "LaunchTemplateData.UserData");
    // With a source version the new version inherits every top-level setting it does not override, as on EC2.
    const base = sourceVersion ? this.version(template, sourceVersion).data : {};
    const version: TemplateVersion = {
      number: (template.versions.at(-1)?.number ?? 0) + 1,
      description,
      createTime: this.clock.now(),
      data: { ...base, ...data },
    };
    template.versions.push(version);
    return { template, version };
  }

  remove(id: string): void {
    this.byId.delete(id);
  }

  all(): LaunchTemplate[] {
    return [...this.byId.values()];
  }

  find(ref: TemplateRef): LaunchTemplate {
    if (ref.LaunchTemplateId && ref.LaunchTemplateName) {
      throw combination("Specify either a launch template ID or a launch template name, not both.");
    }
    if (ref.LaunchTemplateId) {
      if (!TEMPLATE_ID.test(ref.LaunchTemplateId)) {
        throw new Ec2Error("InvalidLaunchTemplateId.Malformed", `The launch template ID '${ref.LaunchTemplateId}' is malformed.`);
      }
      const t = this.byId.get(ref.LaunchTemplateId);
      if (!t) {
        throw new Ec2Error(
          "InvalidLaunchTemplateId.NotFound",
          `The specified launch template, with template ID ${ref.LaunchTemplateId}, does not exist.`,
        );
      }
      return t;
    }
    if (ref.LaunchTemplateName) {
      const t = this.all().find((x) => x.name === ref.LaunchTemplateName);
      if (!t) {
        throw new Ec2Error(
          "InvalidLaunchTemplateName.NotFoundException",
          `The specified launch template, with template name ${ref.LaunchTemplateName}, does not exist.`,
        );
      }
      return t;
    }
    throw missing("LaunchTemplateId or LaunchTemplateName");
  }

  /** Resolves "$Latest", "$Default" or a version number. */
  version(template: LaunchTemplate, version = "$Default"): TemplateVersion {
    const wanted =
      version === "$Latest"
        ? template.versions.at(-1)?.number
        : version === "$Default"
          ? template.defaultVersion
          : /^[1-9][0-9]*$/.test(version)
            ? Number(version)
            : undefined;
    const found = template.versions.find((v) => v.number === wanted);
    if (!found) {
      throw new Ec2Error(
        "InvalidLaunchTemplateId.VersionNotFound",
        `Could not find launch template version ${version} for launch template ${template.id}.`,
      );
    }
    return found;
  }

  resolve(ref: TemplateRef): { template: LaunchTemplate; version: TemplateVersion } {
    const template = this.find(ref);
    return { template, version: this.version(template, ref.Version) };
  }
}
