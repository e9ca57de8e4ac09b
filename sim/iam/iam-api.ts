import { randomUUID } from "node:crypto";
import { type AuthorizationRequest, asList, type PolicyDocument } from "../../lib/iam/policy-document.ts";
import { decodeQuery } from "../cloudwatch-query.ts";
import type { Principal } from "../json-services.ts";
import type { World } from "../world.ts";
import { escapeXml } from "../xml.ts";
import { arnMatches, evaluate, glob, statementMatches } from "./evaluate.ts";
import { roleArn } from "./identities.ts";
import { CLOUDWATCH_XMLNS, queryAuthErrorReply } from "./replies.ts";
import type { AuthCode } from "./sigv4.ts";

/**
 * IAM's query API (`Version=2010-05-08`, signed for `iam`), the one call `spotferry doctor` needs:
 * SimulatePrincipalPolicy. It evaluates the identity policy of the role PolicySourceArn names (a role ARN or a session
 * ARN of it) with the sim's own evaluator (evaluate.ts), for every action in ActionNames on every resource in
 * ResourceArns (default `*`), with ContextEntries as the request's condition keys. As IAM does today, one result per
 * action: EvalDecision is the most restrictive over the resources, ResourceSpecificResults holds each resource's.
 * The caller needs iam:SimulatePrincipalPolicy on the role (root keys may do anything).
 */
export const IAM_VERSION = "2010-05-08";
export const IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/";
const MAX_ITEMS_DEFAULT = 100;

export interface QueryReply {
  status: number;
  body: string;
}

export class QueryError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.name = "QueryError";
    this.code = code;
    this.status = status;
  }
}

/** `<ErrorResponse>` in a query service's namespace (IAM's, STS's). */
export function queryError(xmlns: string, err: QueryError): QueryReply {
  const type = err.status >= 500 ? "Receiver" : "Sender";
  return {
    status: err.status,
    body:
      `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${xmlns}"><Error><Type>${type}</Type>` +
      `<Code>${escapeXml(err.code)}</Code><Message>${escapeXml(err.message)}</Message></Error>` +
      `<RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  };
}

/** An authentication failure in the query shape, in the service's namespace. */
export function queryAuthError(xmlns: string, code: AuthCode | "AccessDenied", message: string): QueryReply {
  const reply = queryAuthErrorReply(code, message);
  return { status: reply.status, body: reply.body.replace(CLOUDWATCH_XMLNS, xmlns) };
}

export function queryResponse(xmlns: string, action: string, result: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${xmlns}"><${action}Result>${result}</${action}Result>` +
    `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`
  );
}

interface ContextEntry {
  ContextKeyName?: string;
  ContextKeyValues?: string[] | "";
  ContextKeyType?: string;
}

interface SimulateInput {
  PolicySourceArn?: string;
  ActionNames?: string[] | "";
  ResourceArns?: string[] | "";
  ContextEntries?: ContextEntry[] | "";
  MaxItems?: string;
  Marker?: string;
}

const CONTEXT_TYPES = new Set([
  "string",
  "stringList",
  "numeric",
  "numericList",
  "boolean",
  "booleanList",
  "ip",
  "ipList",
  "binary",
  "binaryList",
  "date",
  "dateList",
]);

/** A query list: the SDK sends an empty one as `Name=` (an empty string), an absent one not at all. */
const list = <T>(v: T | T[] | "" | undefined): T[] => (v === "" || v === undefined ? [] : asList(v as T | T[]));

/** The role a PolicySourceArn names: `arn:aws:iam::ACCT:role/[path/]NAME` or `arn:aws:sts::ACCT:assumed-role/NAME/SESSION`. */
export function roleOfSourceArn(arn: string): string | undefined {
  return (
    /^arn:aws:iam::\d{12}:role\/(?:.*\/)?([\w+=,.@-]+)$/.exec(arn)?.[1] ??
    /^arn:aws:sts::\d{12}:assumed-role\/([\w+=,.@-]+)\/[\w+=,.@-]+$/.exec(arn)?.[1]
  );
}

function contextOf(entries: ContextEntry[]): Record<string, string | string[]> {
  const ctx: Record<string, string | string[]> = {};
  for (const [i, e] of entries.entries()) {
    const at = `ContextEntries.member.${i + 1}`;
    if (!e.ContextKeyName) throw new QueryError("InvalidInput", `${at}.ContextKeyName is required`);
    if (!e.ContextKeyType || !CONTEXT_TYPES.has(e.ContextKeyType)) {
      throw new QueryError("InvalidInput", `${at}.ContextKeyType: expected one of ${[...CONTEXT_TYPES].join(", ")}`);
    }
    const values = list(e.ContextKeyValues);
    ctx[e.ContextKeyName] = e.ContextKeyType.endsWith("List") ? values : (values[0] ?? "");
  }
  return ctx;
}

type Decision = "allowed" | "implicitDeny" | "explicitDeny";
const DECISION = { allow: "allowed", "implicit-deny": "implicitDeny", "explicit-deny": "explicitDeny" } as const;
const RANK: Record<Decision, number> = { allowed: 0, implicitDeny: 1, explicitDeny: 2 };

interface ResourceResult {
  resource: string;
  decision: Decision;
  matched: boolean;
  missing: string[];
}

/** One action on one resource: the decision, whether a statement decided it, and the condition keys the policy lacked. */
function simulateOne(policy: PolicyDocument | undefined, req: AuthorizationRequest): ResourceResult {
  const decision: Decision = policy ? DECISION[evaluate([policy], req)] : "implicitDeny";
  const statements = policy?.Statement ?? [];
  const wanted = decision === "explicitDeny" ? "Deny" : "Allow";
  const matched = decision !== "implicitDeny" && statements.some((s) => s.Effect === wanted && statementMatches(s, req));
  const lower = new Set(Object.keys(req.context ?? {}).map((k) => k.toLowerCase()));
  const missing = new Set<string>();
  for (const st of statements) {
    const actionHit = st.Action !== undefined && asList(st.Action).some((p) => glob(p, req.action, true));
    if (!actionHit || !asList(st.Resource).some((p) => arnMatches(p, req.resource))) continue;
    for (const keys of Object.values(st.Condition ?? {})) {
      for (const key of Object.keys(keys ?? {})) if (!lower.has(key.toLowerCase())) missing.add(key);
    }
  }
  return { resource: req.resource, decision, matched, missing: [...missing].sort() };
}

const members = (items: string[]) => items.map((i) => `<member>${i}</member>`).join("");

function statementsXml(role: string, r: ResourceResult): string {
  const m = r.matched ? members([`<SourcePolicyId>${escapeXml(role)}</SourcePolicyId><SourcePolicyType>role</SourcePolicyType>`]) : "";
  return `<MatchedStatements>${m}</MatchedStatements><MissingContextValues>${members(r.missing.map(escapeXml))}</MissingContextValues>`;
}

function resultXml(role: string, action: string, results: ResourceResult[]): string {
  const worst = results.reduce((a, b) => (RANK[b.decision] > RANK[a.decision] ? b : a));
  const one = results.length === 1 ? `<EvalResourceName>${escapeXml(worst.resource)}</EvalResourceName>` : "";
  const perResource = results
    .map(
      (r) =>
        `<member><EvalResourceName>${escapeXml(r.resource)}</EvalResourceName>` +
        `<EvalResourceDecision>${r.decision}</EvalResourceDecision>${statementsXml(role, r)}</member>`,
    )
    .join("");
  return (
    `<member><EvalActionName>${escapeXml(action)}</EvalActionName>${one}<EvalDecision>${worst.decision}</EvalDecision>` +
    `${statementsXml(role, worst)}<ResourceSpecificResults>${perResource}</ResourceSpecificResults></member>`
  );
}

/** Markers are opaque to the caller: the offset of the next action in ActionNames. */
const marker = (offset: number) => Buffer.from(`sim:${offset}`).toString("base64url");
function offsetOf(m: string | undefined): number {
  if (m === undefined) return 0;
  const n = Number(/^sim:(\d+)$/.exec(Buffer.from(m, "base64url").toString())?.[1]);
  if (!Number.isInteger(n)) throw new QueryError("InvalidInput", "Invalid Marker.");
  return n;
}

function simulatePrincipalPolicy(world: World, input: SimulateInput, caller: Principal): string {
  const source = input.PolicySourceArn;
  if (!source)
    throw new QueryError("InvalidInput", "1 validation error detected: Value null at 'policySourceArn' failed to satisfy constraint");
  const actions = list(input.ActionNames);
  if (actions.length === 0) throw new QueryError("InvalidInput", "ActionNames must contain at least one action.");
  const role = roleOfSourceArn(source);
  if (role === undefined) throw new QueryError("InvalidInput", `Invalid ARN for PolicySourceArn: ${source}`);
  const denial = world.iam.check(caller, [{ action: "iam:SimulatePrincipalPolicy", resource: roleArn(role) }], {
    service: "iam",
    api: "SimulatePrincipalPolicy",
  });
  if (denial) throw new QueryError("AccessDenied", denial.message, 403);
  const known = world.iam.role(role);
  if (!known) throw new QueryError("NoSuchEntity", `The role with name ${role} cannot be found.`, 404);
  const resources = list(input.ResourceArns).length ? list(input.ResourceArns) : ["*"];
  const context = contextOf(list(input.ContextEntries));
  const maxItems = input.MaxItems === undefined ? MAX_ITEMS_DEFAULT : Number(input.MaxItems);
  if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > 1000) throw new QueryError("InvalidInput", "MaxItems must be 1 to 1000.");
  const start = offsetOf(input.Marker);
  const page = actions.slice(start, start + maxItems);
  const results = page.map((action) =>
    resultXml(
      role,
      action,
      resources.map((resource) => simulateOne(known.policy, { action, resource, context })),
    ),
  );
  const next = start + page.length;
  const truncated = next < actions.length;
  return (
    `<EvaluationResults>${results.join("")}</EvaluationResults><IsTruncated>${truncated}</IsTruncated>` +
    (truncated ? `<Marker>${marker(next)}</Marker>` : "")
  );
}

/** One IAM query call from an authenticated caller. */
export function handleIam(world: World, params: URLSearchParams, caller: Principal): QueryReply {
  const action = params.get("Action") ?? "";
  try {
    if (params.get("Version") !== IAM_VERSION) throw new QueryError("InvalidParameterValue", `The Version must be ${IAM_VERSION}.`);
    if (action !== "SimulatePrincipalPolicy") {
      throw new QueryError("InvalidAction", `The action ${action} is not valid for this web service (spotferry sim).`);
    }
    const input = decodeQuery(params) as SimulateInput;
    return { status: 200, body: queryResponse(IAM_XMLNS, action, simulatePrincipalPolicy(world, input, caller)) };
  } catch (err) {
    const e = err instanceof QueryError ? err : new QueryError("ServiceFailure", `${action}: ${(err as Error).message}`, 500);
    return queryError(IAM_XMLNS, e);
  }
}
