import type { SecretRef } from "../../config/secret.ts";
import { type Env, endpointFor, region } from "../aws/env.ts";
import { ExitCode, UserError } from "../errors.ts";

/**
 * A password reference resolved to its value: `{ env: NAME }` from the environment, `{ secretArn }` through Secrets
 * Manager's GetSecretValue (AWSCURRENT), `{ ssmParameter }` through SSM's GetParameter WithDecryption, each with the
 * SDK client from the standard environment (lib/aws/). A Secrets Manager value is either the password itself or a
 * JSON object with `password` (or the ref's `jsonKey`) and, as RDS-managed secrets have, `username`, `host`, `port`;
 * those are returned so the caller can prefer them over the spec (RDS rotation with alternating users changes the
 * username). The value never appears in an error or a log line: errors name the field, the ARN or name and the problem.
 */
export interface ResolvedSecret {
  password: string;
  username?: string;
  host?: string;
  port?: number;
}

export interface ResolveOptions {
  env?: Env;
  /** The spec field the ref sits in, e.g. "source.password": every error starts with it. */
  field: string;
}

const usage = (message: string) => new UserError(message, { exitCode: ExitCode.usage });

export async function resolveSecret(ref: SecretRef, opts: ResolveOptions): Promise<ResolvedSecret> {
  const env = opts.env ?? process.env;
  if ("env" in ref) {
    const v = env[ref.env];
    if (v === undefined) throw usage(`${opts.field}: environment variable ${ref.env} is not set`);
    return { password: v };
  }
  if ("secretArn" in ref) return fromSecretsManager(ref, { env, field: opts.field });
  return fromSsm(ref.ssmParameter, { env, field: opts.field });
}

async function fromSecretsManager(ref: { secretArn: string; jsonKey?: string }, o: { env: Env; field: string }): Promise<ResolvedSecret> {
  // Loaded on first use, so a process whose passwords come from its environment never loads these SDKs.
  const { GetSecretValueCommand, secretsManagerClient } = await import("../aws/secrets-manager.ts");
  const client = secretsManagerClient(o.env);
  const what = `secret ${ref.secretArn}`;
  try {
    const res = await client.send(new GetSecretValueCommand({ SecretId: ref.secretArn }));
    if (typeof res.SecretString !== "string") throw usage(`${o.field}: ${what} is binary, not a string`);
    return parseSecretString(res.SecretString, { field: o.field, what, jsonKey: ref.jsonKey });
  } catch (err) {
    throw err instanceof UserError
      ? err
      : serviceError(err, { field: o.field, what, action: "secretsmanager:GetSecretValue", service: "Secrets Manager", env: o.env });
  } finally {
    client.destroy();
  }
}

async function fromSsm(name: string, o: { env: Env; field: string }): Promise<ResolvedSecret> {
  const { GetParameterCommand, ssmClient } = await import("../aws/ssm.ts");
  const client = ssmClient(o.env);
  const what = `SSM parameter ${name}`;
  try {
    const res = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    const value = res.Parameter?.Value;
    if (typeof value !== "string") throw usage(`${o.field}: ${what} has no value`);
    return { password: value };
  } catch (err) {
    throw err instanceof UserError
      ? err
      : serviceError(err, { field: o.field, what, action: "ssm:GetParameter", service: "SSM", env: o.env });
  } finally {
    client.destroy();
  }
}

/** The password of a secret string: JSON with `password` (or `jsonKey`), or the whole string. */
export function parseSecretString(text: string, o: { field: string; what: string; jsonKey?: string }): ResolvedSecret {
  let doc: unknown;
  if (text.trimStart().startsWith("{")) {
    try {
      doc = JSON.parse(text);
    } catch {
      // Not JSON after all: a password that starts with "{". The parse error quotes the text, so it is dropped.
      doc = undefined;
    }
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    if (o.jsonKey) throw usage(`${o.field}: ${o.what} is not a JSON object, so jsonKey "${o.jsonKey}" cannot be read`);
    return { password: text };
  }
  const fields = doc as Record<string, unknown>;
  const key = o.jsonKey ?? "password";
  const password = fields[key];
  if (password === undefined) throw usage(`${o.field}: ${o.what} is JSON without "${key}"`);
  if (typeof password !== "string") throw usage(`${o.field}: ${o.what} has a "${key}" that is not a string`);
  const out: ResolvedSecret = { password };
  if (typeof fields.username === "string" && fields.username) out.username = fields.username;
  if (typeof fields.host === "string" && fields.host) out.host = fields.host;
  const port = typeof fields.port === "number" ? fields.port : typeof fields.port === "string" ? Number(fields.port) : Number.NaN;
  if (Number.isInteger(port) && port > 0 && port < 65536) out.port = port;
  return out;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);
const THROTTLED =
  /Throttl|TooManyRequests|RequestLimitExceeded|InternalServiceError|InternalServerError|InternalFailure|ServiceUnavailable/;

/** One line for a failed call: missing and denied are the user's to fix (exit 2); an unreachable service is exit 3. */
function serviceError(err: unknown, o: { field: string; what: string; action: string; service: string; env: Env }): UserError {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = e.name ?? "";
  const message = (e.message ?? "").replace(/\s+/g, " ").trim();
  if (name === "ResourceNotFoundException" || name === "ParameterNotFound") return usage(`${o.field}: ${o.what} does not exist`);
  if (/AccessDenied|UnauthorizedOperation|NotAuthorized/.test(name) || /is not authorized to perform/.test(message)) {
    // KMS refusals come back through the service: name the action that was actually refused.
    const action = /\b(kms:[A-Za-z]+)\b/.exec(message)?.[1] ?? (/\bKMS\b/i.test(message) ? "kms:Decrypt" : o.action);
    return usage(`${o.field}: access denied to ${action} on ${o.what}${message ? ` (${message})` : ""}`);
  }
  const status = e.$metadata?.httpStatusCode;
  const code = e.code ?? (err as { cause?: { code?: string } }).cause?.code;
  // No response and no network code: the request failed on this side (a bug, a bad setting), not the service.
  if (status === undefined && !code && name !== "TimeoutError") {
    return new UserError(`${o.field}: reading ${o.what} failed before any answer: ${name}${message ? `: ${message}` : ""}`, {
      exitCode: ExitCode.unavailable,
    });
  }
  if (status === undefined || status >= 500 || THROTTLED.test(name) || (code && NETWORK_CODES.has(code)) || name === "TimeoutError") {
    const endpoint = endpointFor(o.env, o.service === "SSM" ? "SSM" : "SECRETS_MANAGER") ?? `the ${region(o.env)} endpoint`;
    return new UserError(`${o.field}: cannot reach ${o.service} at ${endpoint} to read ${o.what}: ${code ?? name ?? message}`, {
      exitCode: ExitCode.unavailable,
    });
  }
  return usage(`${o.field}: ${o.what} cannot be read: ${name}${message ? `: ${message}` : ""}`);
}
