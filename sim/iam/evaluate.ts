import {
  type AuthorizationRequest,
  asList,
  type ConditionBlock,
  type PolicyDocument,
  type PolicyStatement,
} from "../../lib/iam/policy-document.ts";

/**
 * IAM's identity-policy evaluation, the part the sim needs: a request is allowed when some Allow statement matches it
 * and no Deny statement does (an explicit Deny always wins; no match at all is an implicit deny). A statement matches
 * when its Action (or NotAction) covers the action, its Resource covers the resource and every condition holds.
 * Actions match case-insensitively with `*`/`?`; resources match ARN segment by segment (case-sensitive), the last
 * segment (the resource part) as one glob, so `arn:aws:ec2:*:*:instance/*` covers every instance and nothing else.
 */
export type Decision = "allow" | "implicit-deny" | "explicit-deny";

export function evaluate(policies: PolicyDocument[], req: AuthorizationRequest): Decision {
  let allowed = false;
  for (const policy of policies) {
    for (const st of policy.Statement) {
      if (!statementMatches(st, req)) continue;
      if (st.Effect === "Deny") return "explicit-deny";
      allowed = true;
    }
  }
  return allowed ? "allow" : "implicit-deny";
}

export function statementMatches(st: PolicyStatement, req: AuthorizationRequest): boolean {
  const actionHit = (patterns: string[]) => patterns.some((p) => glob(p, req.action, true));
  if (st.Action !== undefined && !actionHit(asList(st.Action))) return false;
  if (st.NotAction !== undefined && actionHit(asList(st.NotAction))) return false;
  if (st.Action === undefined && st.NotAction === undefined) return false;
  if (!asList(st.Resource).some((p) => arnMatches(p, req.resource))) return false;
  return conditionsHold(st.Condition, req.context ?? {});
}

const globCache = new Map<string, RegExp>();

/** `*` any run of characters, `?` exactly one; everything else literal. */
export function glob(pattern: string, value: string, ignoreCase = false): boolean {
  if (pattern === "*") return true;
  const key = `${ignoreCase ? "i" : "c"}${pattern}`;
  let re = globCache.get(key);
  if (!re) {
    const body = pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".");
    re = new RegExp(`^${body}$`, ignoreCase ? "is" : "s");
    if (globCache.size > 2000) globCache.clear();
    globCache.set(key, re);
  }
  return re.test(value);
}

/** ARN matching as IAM does it: partition, service, region and account one by one, then the resource part. */
export function arnMatches(pattern: string, value: string): boolean {
  if (pattern === "*") return true;
  const p = splitArn(pattern);
  const v = splitArn(value);
  if (!p || !v) return glob(pattern, value);
  return p.every((seg, i) => glob(seg, v[i] ?? ""));
}

function splitArn(arn: string): string[] | undefined {
  const parts = arn.split(":");
  if (parts.length < 6 || parts[0] !== "arn") return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(":")];
}

type ContextValue = string | string[] | undefined;
type Context = Record<string, ContextValue>;

/** Condition keys are case-insensitive in IAM. */
function lookup(ctx: Context, key: string): string[] | undefined {
  const wanted = key.toLowerCase();
  for (const [k, v] of Object.entries(ctx)) {
    if (k.toLowerCase() === wanted && v !== undefined) return asList(v);
  }
  return undefined;
}

type Test = (policyValue: string, requestValue: string) => boolean;
const TESTS: Record<string, Test> = {
  StringEquals: (p, v) => p === v,
  StringLike: (p, v) => glob(p, v),
  ArnEquals: (p, v) => arnMatches(p, v),
  ArnLike: (p, v) => arnMatches(p, v),
  Bool: (p, v) => p.toLowerCase() === v.toLowerCase(),
};
const NEGATED: Record<string, string> = { StringNotEquals: "StringEquals", StringNotLike: "StringLike" };

/** The operators this evaluator understands (with `...IfExists` forms); policies using others are refused up front. */
export function knownOperator(op: string): boolean {
  const base = op.replace(/^(ForAllValues|ForAnyValue):/, "").replace(/IfExists$/, "");
  return base === "Null" || base in TESTS || base in NEGATED;
}

function conditionsHold(block: ConditionBlock | undefined, ctx: Context): boolean {
  if (!block) return true;
  for (const [op, keys] of Object.entries(block)) {
    for (const [key, expected] of Object.entries(keys ?? {})) {
      if (!operatorHolds(op, asList(expected), lookup(ctx, key))) return false;
    }
  }
  return true;
}

/** One operator on one key: the policy's values are ORed; a missing key fails every positive operator. */
function operatorHolds(op: string, expected: string[], actual: string[] | undefined): boolean {
  const qualifier = /^(ForAllValues|ForAnyValue):/.exec(op)?.[1];
  let base = op.replace(/^(ForAllValues|ForAnyValue):/, "");
  const ifExists = base.endsWith("IfExists");
  if (ifExists) base = base.slice(0, -"IfExists".length);
  if (base === "Null") {
    const absent = actual === undefined || actual.length === 0;
    return expected.some((e) => (e.toLowerCase() === "true") === absent);
  }
  const negatedOf = NEGATED[base];
  const test = TESTS[negatedOf ?? base];
  if (!test) return false;
  const anyMatch = (v: string) => expected.some((e) => test(e, v));
  if (actual === undefined || actual.length === 0) {
    // AWS: ForAllValues over no values is true (vacuously), ForAnyValue false; IfExists and negated operators hold.
    if (qualifier === "ForAllValues") return true;
    return ifExists || (qualifier === undefined && negatedOf !== undefined);
  }
  if (qualifier === "ForAllValues") return actual.every((v) => (negatedOf ? !anyMatch(v) : anyMatch(v)));
  if (qualifier === "ForAnyValue") return actual.some((v) => (negatedOf ? !anyMatch(v) : anyMatch(v)));
  return negatedOf ? !actual.some(anyMatch) : actual.some(anyMatch);
}

/** Refuses a policy the evaluator cannot judge faithfully (unknown effect or operator), naming what is wrong. */
export function checkPolicy(policy: PolicyDocument): void {
  if (!policy || !Array.isArray(policy.Statement)) throw new Error("the policy has no Statement list");
  for (const [i, st] of policy.Statement.entries()) {
    const at = `Statement ${st.Sid ?? i + 1}`;
    if (st.Effect !== "Allow" && st.Effect !== "Deny") throw new Error(`${at}: Effect must be Allow or Deny`);
    if (st.Action === undefined && st.NotAction === undefined) throw new Error(`${at}: no Action or NotAction`);
    if (st.Resource === undefined) throw new Error(`${at}: no Resource`);
    for (const op of Object.keys(st.Condition ?? {})) {
      if (!knownOperator(op)) throw new Error(`${at}: condition operator ${op} is not evaluated by the sim`);
    }
  }
}
