import { randomUUID } from "node:crypto";
import type { ServiceCall, ServiceReply } from "../json-services.ts";

/**
 * AWS JSON 1.1 as Secrets Manager and SSM speak it: the body is the operation's input as JSON, the answer its output;
 * an error is `{ "__type": "<Code>", "message": "..." }` with a 4xx status, which the SDK turns into an exception
 * named by `__type`. Timestamps are epoch seconds (fractions allowed), blobs base64.
 */
export const SIM_ACCOUNT = "000000000000";

export class AwsJsonError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

export type Input = Record<string, unknown>;
export type Operation = (input: Input, call: ServiceCall) => unknown;

const reply = (status: number, body: unknown): ServiceReply => ({
  status,
  headers: { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": randomUUID() },
  body: JSON.stringify(body),
});

/** Errors thrown by `call.authorize` (sim/iam/) or anything else: named by their `type`, `code` or `name`. */
function errorReply(err: unknown): ServiceReply {
  if (err instanceof AwsJsonError) return reply(err.status, { __type: err.type, message: err.message });
  const e = err as { type?: unknown; code?: unknown; name?: unknown; status?: unknown; statusCode?: unknown; message?: unknown };
  const type = [e.type, e.code, e.name].find((v): v is string => typeof v === "string" && v !== "Error");
  const status = [e.status, e.statusCode].find((v): v is number => typeof v === "number");
  if (type) return reply(status ?? (/AccessDenied/.test(type) ? 400 : 500), { __type: type, message: String(e.message ?? type) });
  return reply(500, { __type: "InternalFailure", message: `the sim failed: ${String(e.message ?? err)}` });
}

/** Runs the named operation over the parsed body; an unknown one is answered as AWS does. */
export function dispatch(operations: Record<string, Operation>, call: ServiceCall): ServiceReply {
  const op = Object.hasOwn(operations, call.operation) ? operations[call.operation] : undefined;
  if (!op) return reply(400, { __type: "UnknownOperationException", message: `The operation ${call.operation} is not supported.` });
  let input: Input;
  try {
    const parsed: unknown = call.body.trim() === "" ? {} : JSON.parse(call.body);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
    input = parsed as Input;
  } catch {
    return reply(400, { __type: "SerializationException", message: "The request body is not a JSON object." });
  }
  try {
    return reply(200, op(input, call) ?? {});
  } catch (err) {
    return errorReply(err);
  }
}

/** A required string member, else the service's validation error (`type`: InvalidParameterException or ValidationException). */
export function str(input: Input, name: string, type: string): string {
  const v = input[name];
  if (typeof v !== "string" || v === "") throw new AwsJsonError(type, `${name} is required and must be a non-empty string.`);
  return v;
}

export function optStr(input: Input, name: string, type: string): string | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new AwsJsonError(type, `${name} must be a string.`);
  return v;
}

export type Tags = { Key: string; Value: string }[];

export function tags(input: Input, type: string): Tags {
  const v = input.Tags;
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((t) => t && typeof t.Key === "string" && typeof t.Value === "string"))
    throw new AwsJsonError(type, "Tags must be a list of { Key, Value } strings.");
  return v as Tags;
}

/** The IAM condition keys of tags on a request (aws:RequestTag/K, aws:TagKeys) or on a resource (<svc>:ResourceTag/K). */
export function tagContext(list: Tags, prefix: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const t of list) out[`${prefix}/${t.Key}`] = t.Value;
  if (prefix === "aws:RequestTag" && list.length) out["aws:TagKeys"] = list.map((t) => t.Key);
  return out;
}

export const epochSeconds = (ms: number) => ms / 1000;
