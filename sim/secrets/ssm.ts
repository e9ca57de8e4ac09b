import { createHash, randomBytes } from "node:crypto";
import type { ServiceCall, ServiceReply } from "../json-services.ts";
import {
  AwsJsonError,
  dispatch,
  epochSeconds,
  type Input,
  optStr,
  SIM_ACCOUNT,
  str,
  type Tags,
  tagContext,
  tags,
} from "./json-protocol.ts";
import { kmsRequest } from "./kms.ts";

/**
 * SSM Parameter Store over AWS JSON 1.1 (`X-Amz-Target: AmazonSSM.<Op>`), in memory: PutParameter (String,
 * StringList, SecureString with an optional KeyId; Overwrite bumps the version), GetParameter by name or ARN, and
 * DeleteParameter. A SecureString read without WithDecryption answers an opaque ciphertext, as SSM does, never the
 * value. IAM: ssm:<Action> on `arn:aws:ssm:<region>:<account>:parameter/<name without its leading slash>`, plus
 * kms:Decrypt (kms:Encrypt to write) with `kms:ViaService` for a customer-managed key.
 */
export const SSM_TARGET_PREFIX = "AmazonSSM.";

const VALIDATION = "ValidationException";
const TYPES = new Set(["String", "StringList", "SecureString"]);

interface Parameter {
  name: string;
  type: string;
  value: string;
  /** What a SecureString read without decryption answers: base64 that is not the value. */
  ciphertext?: string;
  keyId?: string;
  version: number;
  modified: number;
  tags: Tags;
}

export class ParameterStore {
  private readonly parameters = new Map<string, Parameter>();

  get(name: string): Parameter | undefined {
    return this.parameters.get(name);
  }

  set(p: Parameter): void {
    this.parameters.set(p.name, p);
  }

  delete(name: string): void {
    this.parameters.delete(name);
  }
}

interface Ctx {
  store: ParameterStore;
  region: string;
  call: ServiceCall;
}

const arnOf = (c: Ctx, name: string) => `arn:aws:ssm:${c.region}:${SIM_ACCOUNT}:parameter/${name.replace(/^\//, "")}`;

/** A name or an ARN to the stored name: `parameter/a/b` is `/a/b`; `parameter/a` is `a` or `/a`, whichever exists. */
function nameOf(c: Ctx, id: string): string {
  const m = /^arn:aws[a-z-]*:ssm:[^:]*:[^:]*:parameter\/(.+)$/.exec(id);
  if (!m) return id;
  const rest = m[1] as string;
  return rest.includes("/") || !c.store.get(rest) ? `/${rest}` : rest;
}

function validName(name: string): void {
  if (
    name.length > 2048 ||
    !/^[a-zA-Z0-9_.\-/]+$/.test(name) ||
    (name.includes("/") && !name.startsWith("/")) ||
    /^\/?(aws|ssm)/i.test(name)
  )
    throw new AwsJsonError(
      VALIDATION,
      'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_',
    );
}

const notFound = (name: string) => new AwsJsonError("ParameterNotFound", `Parameter ${name} not found.`);
const opaque = (p: { name: string; version: number }) =>
  `AQICAH${createHash("sha256").update(`${p.name}#${p.version}`).digest("base64")}${randomBytes(24).toString("base64")}`;

function authorize(c: Ctx, action: string, name: string, p: Parameter | undefined, extra: ReturnType<typeof kmsRequest> = []) {
  const context = p ? { ...tagContext(p.tags, "ssm:resourceTag"), ...tagContext(p.tags, "aws:ResourceTag") } : {};
  c.call.authorize([{ action: `ssm:${action}`, resource: arnOf(c, name), context }, ...extra]);
}

function putParameter(c: Ctx, input: Input) {
  const name = nameOf(c, str(input, "Name", VALIDATION));
  const value = str(input, "Value", VALIDATION);
  const prior = c.store.get(name);
  const type = optStr(input, "Type", VALIDATION) ?? prior?.type ?? "String";
  if (!TYPES.has(type))
    throw new AwsJsonError(
      VALIDATION,
      `1 validation error detected: Value '${type}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]`,
    );
  const keyId = optStr(input, "KeyId", VALIDATION) ?? (type === "SecureString" ? (prior?.keyId ?? "alias/aws/ssm") : undefined);
  if (keyId && type !== "SecureString") throw new AwsJsonError(VALIDATION, "KeyId is required for SecureString type parameter only.");
  const requestTags = tags(input, VALIDATION);
  const extra = [
    ...(requestTags.length ? [{ action: "ssm:AddTagsToResource", resource: arnOf(c, name) }] : []),
    ...(type === "SecureString" ? kmsRequest("kms:Encrypt", keyId, { region: c.region, service: "ssm" }) : []),
  ];
  authorize(c, "PutParameter", name, prior, extra);
  validName(name);
  if (Buffer.byteLength(value) > 4096) throw new AwsJsonError(VALIDATION, "Standard tier parameters support a value of up to 4 KB.");
  if (prior && input.Overwrite !== true)
    throw new AwsJsonError(
      "ParameterAlreadyExists",
      "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
    );
  if (prior && requestTags.length)
    throw new AwsJsonError(
      VALIDATION,
      "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
    );
  const version = (prior?.version ?? 0) + 1;
  const p: Parameter = { name, type, value, keyId, version, modified: c.call.now, tags: prior?.tags ?? requestTags };
  if (type === "SecureString") p.ciphertext = opaque(p);
  c.store.set(p);
  return { Version: version, Tier: "Standard" };
}

function getParameter(c: Ctx, input: Input) {
  const asked = str(input, "Name", VALIDATION);
  const name = nameOf(c, asked);
  const p = c.store.get(name);
  const decrypt = input.WithDecryption === true;
  authorize(
    c,
    "GetParameter",
    name,
    p,
    p?.type === "SecureString" && decrypt ? kmsRequest("kms:Decrypt", p.keyId, { region: c.region, service: "ssm" }) : [],
  );
  if (!p) throw notFound(asked);
  return {
    Parameter: {
      Name: p.name,
      Type: p.type,
      Value: p.type === "SecureString" && !decrypt ? p.ciphertext : p.value,
      Version: p.version,
      LastModifiedDate: epochSeconds(p.modified),
      ARN: arnOf(c, p.name),
      DataType: "text",
    },
  };
}

function deleteParameter(c: Ctx, input: Input) {
  const asked = str(input, "Name", VALIDATION);
  const name = nameOf(c, asked);
  const p = c.store.get(name);
  authorize(c, "DeleteParameter", name, p);
  if (!p) throw notFound(asked);
  c.store.delete(name);
  return {};
}

const OPERATIONS: Record<string, (c: Ctx, input: Input) => unknown> = {
  PutParameter: putParameter,
  GetParameter: getParameter,
  DeleteParameter: deleteParameter,
};

export function handleSsm(store: ParameterStore, region: string, call: ServiceCall): ServiceReply {
  const ops = Object.fromEntries(
    Object.entries(OPERATIONS).map(([name, op]) => [name, (input: Input) => op({ store, region, call }, input)]),
  );
  return dispatch(ops, call);
}
