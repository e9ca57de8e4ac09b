import { randomUUID } from "node:crypto";
import type { ServiceReply } from "../json-services.ts";
import { ec2ErrorXml, escapeXml } from "../xml.ts";
import type { Denial } from "./identities.ts";
import type { AuthCode } from "./sigv4.ts";

/**
 * Authentication and authorisation failures in each protocol's own error shape, so every SDK (and any other
 * client) raises the exception it would raise against AWS: EC2's `<Response><Errors><Error>`, the JSON services'
 * `__type` (plus `x-amzn-query-error` for the query-compatible ones such as CloudWatch) and the query protocol's
 * `<ErrorResponse>`.
 */
export const CLOUDWATCH_XMLNS = "http://monitoring.amazonaws.com/doc/2010-08-01/";

/** Thrown by ServiceCall.authorize: the JSON front door answers it with the service's AccessDenied shape. */
export class AccessDeniedError extends Error {
  readonly denial: Denial;
  constructor(denial: Denial) {
    super(denial.message);
    this.name = "AccessDeniedError";
    this.denial = denial;
  }
}

const JSON_TYPES: Record<AuthCode | "AccessDenied", string> = {
  MissingAuthenticationToken: "MissingAuthenticationTokenException",
  IncompleteSignature: "IncompleteSignatureException",
  InvalidClientTokenId: "UnrecognizedClientException",
  ExpiredToken: "ExpiredTokenException",
  SignatureDoesNotMatch: "InvalidSignatureException",
  AccessDenied: "AccessDeniedException",
};

const STATUS: Record<AuthCode | "AccessDenied", number> = {
  MissingAuthenticationToken: 403,
  IncompleteSignature: 400,
  InvalidClientTokenId: 403,
  ExpiredToken: 400,
  SignatureDoesNotMatch: 403,
  AccessDenied: 400,
};

export function jsonErrorReply(code: AuthCode | "AccessDenied", message: string, jsonVersion: "1.0" | "1.1"): ServiceReply {
  return {
    status: STATUS[code],
    headers: {
      "content-type": `application/x-amz-json-${jsonVersion}`,
      "x-amzn-query-error": `${code};Sender`,
      "x-amzn-requestid": randomUUID(),
    },
    body: JSON.stringify({ __type: JSON_TYPES[code], message, Message: message }),
  };
}

/** EC2 answers an unknown key with AuthFailure; the other codes are the same as everywhere. */
export function ec2AuthErrorReply(code: AuthCode, message: string): { status: number; body: string } {
  const ec2Code = code === "InvalidClientTokenId" ? "AuthFailure" : code;
  const ec2Message = code === "InvalidClientTokenId" ? "AWS was not able to validate the provided access credentials" : message;
  return { status: code === "IncompleteSignature" ? 400 : 403, body: ec2ErrorXml(ec2Code, ec2Message, randomUUID()) };
}

export function queryErrorXml(code: string, message: string, type: "Sender" | "Receiver" = "Sender"): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${CLOUDWATCH_XMLNS}"><Error><Type>${type}</Type>` +
    `<Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error>` +
    `<RequestId>${randomUUID()}</RequestId></ErrorResponse>`
  );
}

export function queryAuthErrorReply(code: AuthCode | "AccessDenied", message: string): { status: number; body: string } {
  // The query protocol's AccessDenied is a 403 (the JSON services answer 400 AccessDeniedException).
  return { status: code === "AccessDenied" ? 403 : STATUS[code], body: queryErrorXml(code, message) };
}
