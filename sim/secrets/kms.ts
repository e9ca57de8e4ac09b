import type { AuthorizationRequest } from "../../lib/iam/policy-document.ts";
import { SIM_ACCOUNT } from "./json-protocol.ts";

/**
 * The KMS side of a secret read. A service encrypting with a customer-managed key calls KMS on the caller's behalf,
 * so the caller's own policy must allow kms:Decrypt (or Encrypt/GenerateDataKey) on the key, with `kms:ViaService`
 * naming the service; an AWS-managed key (`alias/aws/secretsmanager`, `alias/aws/ssm`, or no key at all) needs no
 * identity policy. A key id, key ARN or alias is accepted, as the services accept them.
 */
export function keyArn(keyId: string | undefined, region: string): string | null {
  if (!keyId || /^(arn:aws[a-z-]*:kms:[^:]*:[^:]*:)?alias\/aws\//.test(keyId)) return null;
  if (keyId.startsWith("arn:")) return keyId;
  return keyId.startsWith("alias/") ? `arn:aws:kms:${region}:${SIM_ACCOUNT}:${keyId}` : `arn:aws:kms:${region}:${SIM_ACCOUNT}:key/${keyId}`;
}

/** The KMS request to authorise alongside the service's own action, or none for an AWS-managed key. */
export function kmsRequest(
  action: "kms:Decrypt" | "kms:Encrypt" | "kms:GenerateDataKey",
  keyId: string | undefined,
  o: { region: string; service: "secretsmanager" | "ssm" },
): AuthorizationRequest[] {
  const resource = keyArn(keyId, o.region);
  return resource ? [{ action, resource, context: { "kms:ViaService": `${o.service}.${o.region}.amazonaws.com` } }] : [];
}
