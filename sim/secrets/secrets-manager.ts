import { randomBytes, randomUUID } from "node:crypto";
import type { AuthorizationRequest } from "../../lib/iam/policy-document.ts";
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
 * Secrets Manager over AWS JSON 1.1 (`X-Amz-Target: secretsmanager.<Op>`), in memory: CreateSecret, PutSecretValue,
 * GetSecretValue, DescribeSecret, DeleteSecret, with AWS's staging labels (a new value is AWSCURRENT, the one before
 * AWSPREVIOUS), lookups by ARN, partial ARN (without the 6-character suffix) or name, and AWS's error codes. Each
 * operation authorises its IAM action on the secret's ARN (and kms:* on a customer-managed key) before answering.
 */
export const SECRETS_MANAGER_TARGET_PREFIX = "secretsmanager.";

const INVALID = "InvalidParameterException";
const CURRENT = "AWSCURRENT";
const PREVIOUS = "AWSPREVIOUS";

interface SecretVersion {
  id: string;
  secretString?: string;
  /** base64, as the protocol carries blobs. */
  secretBinary?: string;
  stages: Set<string>;
  created: number;
}

interface Secret {
  arn: string;
  name: string;
  description?: string;
  kmsKeyId?: string;
  tags: Tags;
  versions: Map<string, SecretVersion>;
  created: number;
  changed: number;
  /** Scheduled deletion (the recovery window): reads are refused, the name stays taken. */
  deletionDate?: number;
}

const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const suffix = () => [...randomBytes(6)].map((b) => BASE62[b % 62]).join("");

export class SecretStore {
  private readonly secrets = new Map<string, Secret>();

  /** By full ARN, partial ARN or name; deleted-without-recovery secrets are gone. */
  find(id: string): Secret | undefined {
    for (const s of this.secrets.values()) if (s.arn === id || s.name === id || s.arn.slice(0, -7) === id) return s;
    return undefined;
  }

  add(secret: Secret): void {
    this.secrets.set(secret.arn, secret);
  }

  remove(secret: Secret): void {
    this.secrets.delete(secret.arn);
  }
}

interface Ctx {
  store: SecretStore;
  region: string;
  call: ServiceCall;
}

const notFound = () => new AwsJsonError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");

/** The ARN IAM sees for a request: the secret's own, else what was asked for (so a missing secret can be denied too). */
function requestedArn(c: Ctx, id: string, secret: Secret | undefined): string {
  if (secret) return secret.arn;
  return id.startsWith("arn:") ? id : `arn:aws:secretsmanager:${c.region}:${SIM_ACCOUNT}:secret:${id}`;
}

function authorize(c: Ctx, action: string, arn: string, secret: Secret | undefined, extra: AuthorizationRequest[] = []): void {
  const context = secret ? { ...tagContext(secret.tags, "secretsmanager:ResourceTag"), ...tagContext(secret.tags, "aws:ResourceTag") } : {};
  c.call.authorize([{ action: `secretsmanager:${action}`, resource: arn, context }, ...extra]);
}

/** Looks the secret up, authorises `action` on it, and refuses a missing or (unless allowed) deleted one. */
function existing(
  c: Ctx,
  input: Input,
  action: string,
  o: { deletedOk?: boolean; kms?: "kms:Decrypt" | "kms:GenerateDataKey" } = {},
): Secret {
  const id = str(input, "SecretId", INVALID);
  const secret = c.store.find(id);
  const kms = secret && o.kms ? kmsRequest(o.kms, secret.kmsKeyId, { region: c.region, service: "secretsmanager" }) : [];
  authorize(c, action, requestedArn(c, id, secret), secret, kms);
  if (!secret) throw notFound();
  if (secret.deletionDate !== undefined && !o.deletedOk)
    throw new AwsJsonError("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.");
  return secret;
}

function secretValue(input: Input): Pick<SecretVersion, "secretString" | "secretBinary"> {
  const secretString = optStr(input, "SecretString", INVALID);
  const secretBinary = optStr(input, "SecretBinary", INVALID);
  if (secretString !== undefined && secretBinary !== undefined)
    throw new AwsJsonError(INVALID, "You can't specify both a binary secret value and a string secret value in the same secret.");
  const size = secretString !== undefined ? Buffer.byteLength(secretString) : secretBinary ? Buffer.from(secretBinary, "base64").length : 0;
  if (size > 65536) throw new AwsJsonError(INVALID, "The secret value exceeds the maximum size of 65536 bytes.");
  return { secretString, secretBinary };
}

/** Adds a version; labels it moves (AWSCURRENT by default) leave their old holder, and the old AWSCURRENT becomes AWSPREVIOUS. */
function addVersion(
  secret: Secret,
  value: Pick<SecretVersion, "secretString" | "secretBinary">,
  o: { id: string; stages: string[]; now: number },
) {
  const same = secret.versions.get(o.id);
  if (same) {
    if (same.secretString !== value.secretString || same.secretBinary !== value.secretBinary)
      throw new AwsJsonError("ResourceExistsException", `A resource with the ID ${o.id} already exists.`);
    return same;
  }
  for (const stage of o.stages) {
    for (const v of secret.versions.values()) {
      if (!v.stages.delete(stage) || stage !== CURRENT) continue;
      for (const w of secret.versions.values()) w.stages.delete(PREVIOUS);
      v.stages.add(PREVIOUS);
    }
  }
  const version: SecretVersion = { id: o.id, ...value, stages: new Set(o.stages), created: o.now };
  secret.versions.set(o.id, version);
  secret.changed = o.now;
  return version;
}

function createSecret(c: Ctx, input: Input) {
  const name = str(input, "Name", INVALID);
  if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name))
    throw new AwsJsonError(
      INVALID,
      "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
    );
  const value = secretValue(input);
  const prior = c.store.find(name);
  const secret: Secret = {
    arn: `arn:aws:secretsmanager:${c.region}:${SIM_ACCOUNT}:secret:${name}-${suffix()}`,
    name,
    description: optStr(input, "Description", INVALID),
    kmsKeyId: optStr(input, "KmsKeyId", INVALID),
    tags: tags(input, INVALID),
    versions: new Map(),
    created: c.call.now,
    changed: c.call.now,
  };
  const extra = [
    ...(secret.tags.length ? [{ action: "secretsmanager:TagResource", resource: secret.arn }] : []),
    ...(value.secretString !== undefined || value.secretBinary !== undefined
      ? kmsRequest("kms:GenerateDataKey", secret.kmsKeyId, { region: c.region, service: "secretsmanager" })
      : []),
  ];
  c.call.authorize([
    { action: "secretsmanager:CreateSecret", resource: secret.arn, context: tagContext(secret.tags, "aws:RequestTag") },
    ...extra,
  ]);
  if (prior?.deletionDate !== undefined)
    throw new AwsJsonError(
      "InvalidRequestException",
      "You can't create this secret because a secret with this name is already scheduled for deletion.",
    );
  if (prior) throw new AwsJsonError("ResourceExistsException", `The operation failed because the secret ${name} already exists.`);
  let versionId: string | undefined;
  if (value.secretString !== undefined || value.secretBinary !== undefined) {
    versionId = optStr(input, "ClientRequestToken", INVALID) ?? randomUUID();
    addVersion(secret, value, { id: versionId, stages: [CURRENT], now: c.call.now });
  }
  c.store.add(secret);
  return { ARN: secret.arn, Name: secret.name, ...(versionId ? { VersionId: versionId } : {}) };
}

function putSecretValue(c: Ctx, input: Input) {
  const secret = existing(c, input, "PutSecretValue", { kms: "kms:GenerateDataKey" });
  const value = secretValue(input);
  if (value.secretString === undefined && value.secretBinary === undefined)
    throw new AwsJsonError(INVALID, "You must provide either SecretString or SecretBinary.");
  const stages = Array.isArray(input.VersionStages) ? input.VersionStages.map(String) : [CURRENT];
  const id = optStr(input, "ClientRequestToken", INVALID) ?? randomUUID();
  const v = addVersion(secret, value, { id, stages, now: c.call.now });
  return { ARN: secret.arn, Name: secret.name, VersionId: v.id, VersionStages: [...v.stages] };
}

function getSecretValue(c: Ctx, input: Input) {
  const secret = existing(c, input, "GetSecretValue", { kms: "kms:Decrypt" });
  const versionId = optStr(input, "VersionId", INVALID);
  const stage = optStr(input, "VersionStage", INVALID) ?? (versionId ? undefined : CURRENT);
  const v = versionId ? secret.versions.get(versionId) : [...secret.versions.values()].find((x) => stage && x.stages.has(stage));
  if (!v || (stage && !v.stages.has(stage)))
    throw new AwsJsonError(
      "ResourceNotFoundException",
      `Secrets Manager can't find the specified secret value for ${versionId ? `VersionId: ${versionId}` : `staging label: ${stage}`}`,
    );
  return {
    ARN: secret.arn,
    Name: secret.name,
    VersionId: v.id,
    ...(v.secretString !== undefined ? { SecretString: v.secretString } : {}),
    ...(v.secretBinary !== undefined ? { SecretBinary: v.secretBinary } : {}),
    VersionStages: [...v.stages],
    CreatedDate: epochSeconds(v.created),
  };
}

function describeSecret(c: Ctx, input: Input) {
  const s = existing(c, input, "DescribeSecret", { deletedOk: true });
  return {
    ARN: s.arn,
    Name: s.name,
    ...(s.description !== undefined ? { Description: s.description } : {}),
    ...(s.kmsKeyId !== undefined ? { KmsKeyId: s.kmsKeyId } : {}),
    LastChangedDate: epochSeconds(s.changed),
    CreatedDate: epochSeconds(s.created),
    ...(s.deletionDate !== undefined ? { DeletedDate: epochSeconds(s.changed) } : {}),
    ...(s.tags.length ? { Tags: s.tags } : {}),
    VersionIdsToStages: Object.fromEntries([...s.versions.values()].filter((v) => v.stages.size).map((v) => [v.id, [...v.stages]])),
  };
}

function deleteSecret(c: Ctx, input: Input) {
  const secret = existing(c, input, "DeleteSecret", { deletedOk: true });
  const force = input.ForceDeleteWithoutRecovery === true;
  const days = input.RecoveryWindowInDays;
  if (force && days !== undefined)
    throw new AwsJsonError(INVALID, "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
  if (days !== undefined && (typeof days !== "number" || days < 7 || days > 30))
    throw new AwsJsonError(INVALID, "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).");
  const window = force ? 0 : typeof days === "number" ? days : 30;
  if (force) c.store.remove(secret);
  else {
    secret.deletionDate ??= c.call.now + window * 86_400_000;
    secret.changed = c.call.now;
  }
  return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(secret.deletionDate ?? c.call.now) };
}

const OPERATIONS: Record<string, (c: Ctx, input: Input) => unknown> = {
  CreateSecret: createSecret,
  PutSecretValue: putSecretValue,
  GetSecretValue: getSecretValue,
  DescribeSecret: describeSecret,
  DeleteSecret: deleteSecret,
};

export function handleSecretsManager(store: SecretStore, region: string, call: ServiceCall): ServiceReply {
  const ops = Object.fromEntries(
    Object.entries(OPERATIONS).map(([name, op]) => [name, (input: Input) => op({ store, region, call }, input)]),
  );
  return dispatch(ops, call);
}
