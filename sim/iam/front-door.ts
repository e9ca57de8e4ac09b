import { decodeQuery, handleCloudWatchQuery } from "../cloudwatch-query.ts";
import { handleEc2 } from "../ec2-api.ts";
import type { JsonService, Principal, ServiceReply } from "../json-services.ts";
import { handleSts, STS_VERSION, STS_XMLNS } from "../sts.ts";
import type { World } from "../world.ts";
import { cloudwatchAuthorization } from "./cloudwatch-actions.ts";
import { handleIam, IAM_VERSION, IAM_XMLNS, queryAuthError } from "./iam-api.ts";
import { AccessDeniedError, ec2AuthErrorReply, jsonErrorReply, queryAuthErrorReply } from "./replies.ts";
import type { Authenticated, AuthFailure } from "./sigv4.ts";

/**
 * The AWS endpoints behind authentication: every call is signed (sigv4.ts), its credential scope must name the
 * sim's region and the service it reached, and the caller's role is checked against IAM before the handler runs.
 * Failures answer in the protocol's own error shape (replies.ts).
 */
export type AuthResult = Authenticated | AuthFailure;

/** The scope must be this region and this service, as AWS insists (IAM is global: signed for us-east-1). */
function scoped(world: World, auth: AuthResult, service: string): Authenticated | AuthFailure {
  if ("code" in auth) return auth;
  const global = (service === "iam" || service === "sts") && auth.region === "us-east-1";
  if (auth.region !== world.geo.region && !global) {
    return { code: "SignatureDoesNotMatch", message: `Credential should be scoped to a valid region, not '${auth.region}'.` };
  }
  if (auth.service !== service) {
    return { code: "SignatureDoesNotMatch", message: `Credential should be scoped to correct service: '${service}'.` };
  }
  return auth;
}

const authorizer =
  (world: World, caller: Principal, served: { service: string; api: string }) => (requests: Parameters<World["iam"]["check"]>[1]) => {
    const denial = world.iam.check(caller, requests, served);
    if (denial) throw new AccessDeniedError(denial);
  };

export async function serveJson(
  world: World,
  service: JsonService,
  target: string,
  body: string,
  authResult: AuthResult,
): Promise<ServiceReply> {
  const auth = scoped(world, authResult, service.signingName);
  if ("code" in auth) return jsonErrorReply(auth.code, auth.message, service.jsonVersion);
  const caller = auth.principal;
  const operation = target.slice(service.targetPrefix.length);
  try {
    return await service.handle(world, {
      operation,
      body,
      caller,
      authorize: authorizer(world, caller, { service: service.signingName, api: operation }),
      now: world.clock.now(),
    });
  } catch (err) {
    if (err instanceof AccessDeniedError) return jsonErrorReply("AccessDenied", err.message, service.jsonVersion);
    throw err;
  }
}

export type QueryServiceName = "ec2" | "monitoring" | "iam" | "sts";
const QUERY_VERSIONS: Record<string, QueryServiceName> = { "2010-08-01": "monitoring", [IAM_VERSION]: "iam", [STS_VERSION]: "sts" };

/** Which query-protocol service a form request is for: the signing scope's service, else the API version. */
export function queryService(auth: AuthResult, params: URLSearchParams): QueryServiceName {
  const s = auth.service;
  if (s === "monitoring" || s === "ec2" || s === "iam" || s === "sts") return s;
  return QUERY_VERSIONS[params.get("Version") ?? ""] ?? "ec2";
}

/** IAM (SimulatePrincipalPolicy) and STS (GetCallerIdentity): query calls answered in their own namespaces. */
export function serveIamQuery(world: World, params: URLSearchParams, authResult: AuthResult): { status: number; body: string } {
  const auth = scoped(world, authResult, "iam");
  if ("code" in auth) return queryAuthError(IAM_XMLNS, auth.code, auth.message);
  return handleIam(world, params, auth.principal);
}

export function serveStsQuery(world: World, params: URLSearchParams, authResult: AuthResult): { status: number; body: string } {
  const auth = scoped(world, authResult, "sts");
  if ("code" in auth) return queryAuthError(STS_XMLNS, auth.code, auth.message);
  return handleSts(params, auth.principal);
}

export function serveCloudWatchQuery(world: World, params: URLSearchParams, authResult: AuthResult): { status: number; body: string } {
  const auth = scoped(world, authResult, "monitoring");
  if ("code" in auth) return queryAuthErrorReply(auth.code, auth.message);
  const action = params.get("Action") ?? "";
  const denial = world.iam.check(auth.principal, cloudwatchAuthorization(action, decodeQuery(params)), {
    service: "monitoring",
    api: action,
  });
  if (denial) return queryAuthErrorReply("AccessDenied", denial.message);
  return handleCloudWatchQuery(world.metrics, action, params, world.clock.now());
}

export async function serveEc2(world: World, params: URLSearchParams, authResult: AuthResult): Promise<{ status: number; body: string }> {
  const auth = scoped(world, authResult, "ec2");
  if ("code" in auth) return ec2AuthErrorReply(auth.code, auth.message);
  return handleEc2(world, params, auth.principal);
}
