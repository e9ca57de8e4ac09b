import type { AuthorizationRequest } from "../lib/iam/policy-document.ts";
import { CLOUDWATCH_TARGET_PREFIX, handleCloudWatch } from "./cloudwatch.ts";
import { cloudwatchAuthorization } from "./iam/cloudwatch-actions.ts";
import { handleSecretsManager, handleSsm, SECRETS_MANAGER_TARGET_PREFIX, SSM_TARGET_PREFIX } from "./secrets/index.ts";
import type { World } from "./world.ts";

/**
 * The AWS JSON services the sim serves (`POST /` with `X-Amz-Target: <prefix><Operation>`), one entry per service.
 * Each handler gets the caller and an `authorize` that throws the service's access-denied error when the caller's
 * role may not do what is asked, so every service checks its own IAM actions and resources (see sim/iam/).
 */
export interface Principal {
  /** "root" is the account's own key (the operator's admin keys); "role" a session of an IAM role. */
  kind: "root" | "role";
  /** arn:aws:iam::000000000000:root, or arn:aws:sts::000000000000:assumed-role/ROLE/SESSION. */
  arn: string;
  role?: string;
  session?: string;
  accessKeyId: string;
}

export interface ServiceCall {
  /** The operation: the part of X-Amz-Target after the prefix. */
  operation: string;
  body: string;
  caller: Principal;
  /** Throws an AccessDenied error for the first request the caller's policy does not allow; root is always allowed. */
  authorize(requests: AuthorizationRequest[]): void;
  now: number;
}

export interface ServiceReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface JsonService {
  /** e.g. "GraniteServiceVersion20100801." (CloudWatch), "secretsmanager.", "AmazonSSM.". */
  targetPrefix: string;
  /** The SigV4 signing name, e.g. "monitoring", "secretsmanager", "ssm". */
  signingName: string;
  /** "1.0" or "1.1": the Content-Type is application/x-amz-json-<version>. */
  jsonVersion: "1.0" | "1.1";
  handle(world: World, call: ServiceCall): ServiceReply | Promise<ServiceReply>;
}

export const JSON_SERVICES: JsonService[] = [
  {
    targetPrefix: CLOUDWATCH_TARGET_PREFIX,
    signingName: "monitoring",
    jsonVersion: "1.0",
    handle: (world, call) => {
      call.authorize(cloudwatchAuthorization(call.operation, namespaceOf(call.body)));
      return handleCloudWatch(world.metrics, `${CLOUDWATCH_TARGET_PREFIX}${call.operation}`, call.body, call.now);
    },
  },
  {
    targetPrefix: SECRETS_MANAGER_TARGET_PREFIX,
    signingName: "secretsmanager",
    jsonVersion: "1.1",
    handle: (world, call) => handleSecretsManager(world.secrets.secretsManager, world.settings.region, call),
  },
  {
    targetPrefix: SSM_TARGET_PREFIX,
    signingName: "ssm",
    jsonVersion: "1.1",
    handle: (world, call) => handleSsm(world.secrets.parameters, world.settings.region, call),
  },
];

/** Only the namespace matters to IAM; a body that is not JSON is for the handler to refuse. */
function namespaceOf(body: string): { Namespace?: unknown } {
  try {
    return (JSON.parse(body) as { Namespace?: unknown }) ?? {};
  } catch {
    return {};
  }
}

export const jsonServiceFor = (target: string | undefined): JsonService | undefined =>
  target === undefined ? undefined : JSON_SERVICES.find((s) => target.startsWith(s.targetPrefix));
