import { randomBytes } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { AuthorizationRequest } from "../../lib/iam/policy-document.ts";
import type { Principal } from "../json-services.ts";

/**
 * Who signed a request, and what the front door answers when it refuses one. The front door reads the SigV4
 * credential (Authorization header, or X-Amz-Credential of a presigned URL) and the session token only to name the
 * caller; the signature itself is verified by the upstream (Swift's s3api) or by the sim's IAM (sim/iam/).
 */
export interface SignedBy {
  accessKeyId: string;
  sessionToken: string | undefined;
  /** From the credential scope `KEY/DATE/REGION/SERVICE/aws4_request`. */
  region: string;
}

/** The sim's IAM as the front door uses it (world.iam, sim/iam/). */
export interface IdentityError {
  code: string;
  message: string;
}

export interface Denial {
  action: string;
  resource: string;
  role?: string;
  message: string;
}

export interface FrontDoorIam {
  identify(accessKeyId: string, sessionToken: string | undefined): Principal | IdentityError;
  check(caller: Principal, requests: AuthorizationRequest[]): Denial | undefined;
}

export const isPrincipal = (p: Principal | IdentityError): p is Principal => "arn" in p && "kind" in p;

const header = (headers: IncomingHttpHeaders, name: string) => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export function signedBy(headers: IncomingHttpHeaders, query: URLSearchParams): SignedBy | undefined {
  const auth = header(headers, "authorization");
  const credential = auth ? /Credential=([^,\s]+)/.exec(auth)?.[1] : (query.get("X-Amz-Credential") ?? undefined);
  if (!credential) return undefined;
  const [accessKeyId = "", , region = "us-east-1"] = credential.split("/");
  const sessionToken = header(headers, "x-amz-security-token") ?? query.get("X-Amz-Security-Token") ?? undefined;
  return { accessKeyId, sessionToken, region };
}

/** The account of a principal ARN (`arn:aws:sts::ACCOUNT:assumed-role/...`). */
export const accountOf = (arn: string) => arn.split(":")[4] || "000000000000";

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const requestId = () => randomBytes(8).toString("hex").toUpperCase();

const xmlEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function s3Error(status: number, code: string, message: string): Reply {
  const id = requestId();
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>` +
    `<RequestId>${id}</RequestId><HostId>${id}</HostId></Error>`;
  return { status, headers: { "content-type": "application/xml", "x-amz-request-id": id }, body };
}

function dynamoError(code: string, message: string): Reply {
  const id = requestId();
  return {
    status: 400,
    headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": id },
    body: JSON.stringify({ __type: `com.amazon.coral.service#${code}`, Message: message }),
  };
}

/** S3 answers a denial with 403 AccessDenied; DynamoDB with 400 AccessDeniedException naming the action and role. */
export function denialReply(service: "s3" | "dynamodb", denial: Denial): Reply {
  return service === "s3" ? s3Error(403, "AccessDenied", denial.message) : dynamoError("AccessDeniedException", denial.message);
}

/** Unknown keys and expired sessions, in each service's own words. */
export function identityReply(service: "s3" | "dynamodb", error: IdentityError): Reply {
  const expired = /expired/i.test(error.code);
  if (service === "s3") {
    return expired
      ? s3Error(400, "ExpiredToken", "The provided token has expired.")
      : s3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.");
  }
  return expired
    ? dynamoError("ExpiredTokenException", "The security token included in the request is expired")
    : dynamoError("UnrecognizedClientException", "The security token included in the request is invalid.");
}
