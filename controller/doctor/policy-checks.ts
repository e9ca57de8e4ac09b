import type { ContextEntry, EvaluationResult } from "@aws-sdk/client-iam";
import { iamClient, SimulatePrincipalPolicyCommand } from "../../lib/aws/iam.ts";
import { describeError } from "../../lib/errors.ts";
import { asList, type ConditionBlock, type PolicyDocument, type PolicyStatement } from "../../lib/iam/policy-document.ts";
import { controllerPolicy, nodePolicy, type PolicyInput } from "../iam/policies.ts";
import { roleOfInstanceProfile, uniq } from "../iam/scope.ts";
import { awsError, type Check, type CheckContext, type CheckResult, fail, ok, skip } from "./types.ts";

/**
 * The roles' policies, by iam:SimulatePrincipalPolicy: the controller and node documents `spotferry iam policy`
 * builds from the same configs (for this account and region) are taken apart statement by statement, and every
 * action of every Allow statement is simulated against the role's real policies on each of the statement's resources,
 * with the condition keys the statement needs as ContextEntries. Each action+resource IAM would not allow is reported.
 * Wildcards in resources and condition values become a sample name ("doctor"), so the simulation asks about a real
 * object under the pattern (`bucket/prefix/doctor/data/part-doctor`).
 */
const SAMPLE = "doctor";
const concrete = (v: string) => (v === "*" ? v : v.replaceAll("*", SAMPLE).replaceAll("?", "x"));

/** Values that satisfy a statement's conditions, as ContextEntries (negated and IfExists operators hold without any). */
export function contextFor(block: ConditionBlock | undefined): ContextEntry[] {
  const out: ContextEntry[] = [];
  for (const [op, keys] of Object.entries(block ?? {})) {
    if (/IfExists$|Not/.test(op)) continue;
    for (const [key, value] of Object.entries(keys ?? {})) {
      const values = asList(value).map(concrete);
      if (op === "Null") {
        if (values.includes("false")) out.push({ ContextKeyName: key, ContextKeyValues: [SAMPLE], ContextKeyType: "string" });
        continue;
      }
      const list = op.startsWith("ForAllValues:") || op.startsWith("ForAnyValue:");
      const type = op === "Bool" ? "boolean" : list ? "stringList" : "string";
      out.push({ ContextKeyName: key, ContextKeyValues: list ? values : values.slice(0, 1), ContextKeyType: type });
    }
  }
  return out;
}

interface Denied {
  action: string;
  resource: string;
  decision: string;
  sid: string;
}

/** Every (action, resource) of one Allow statement the role is not allowed, paging through the results. */
async function simulateStatement(ctx: CheckContext, roleArn: string, st: PolicyStatement): Promise<Denied[]> {
  const iam = iamClient(ctx.env);
  const denied: Denied[] = [];
  const collect = (r: EvaluationResult) => {
    const per = r.ResourceSpecificResults?.length
      ? r.ResourceSpecificResults.map((x) => ({ resource: x.EvalResourceName ?? "*", decision: x.EvalResourceDecision ?? "" }))
      : [{ resource: r.EvalResourceName ?? "*", decision: r.EvalDecision ?? "" }];
    for (const p of per) if (p.decision !== "allowed") denied.push({ action: r.EvalActionName ?? "", ...p, sid: st.Sid ?? "" });
  };
  const context = contextFor(st.Condition);
  try {
    let marker: string | undefined;
    do {
      const page = await iam.send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: roleArn,
          ActionNames: asList(st.Action),
          ResourceArns: uniq(asList(st.Resource).map(concrete)),
          ContextEntries: context.length ? context : undefined,
          Marker: marker,
        }),
        { abortSignal: ctx.signal },
      );
      for (const r of page.EvaluationResults ?? []) collect(r);
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
    return denied;
  } finally {
    iam.destroy();
  }
}

async function simulateRole(ctx: CheckContext, o: { name: string; roleArn: string; policy: PolicyDocument }): Promise<CheckResult> {
  const allows = o.policy.Statement.filter((s) => s.Effect === "Allow" && s.Action !== undefined);
  let denied: Denied[];
  try {
    denied = (await Promise.all(allows.map((st) => simulateStatement(ctx, o.roleArn, st)))).flat();
  } catch (err) {
    return fail(o.name, `iam:SimulatePrincipalPolicy on ${o.roleArn} failed: ${awsError(err)}`);
  }
  const actions = allows.reduce((n, s) => n + asList(s.Action).length, 0);
  if (denied.length === 0) return ok(o.name, `${o.roleArn} allows all ${actions} actions of its policy (${allows.length} statements)`);
  const list = denied.map((d) => `${d.action} on ${d.resource} (${d.decision}, statement ${d.sid})`).join("; ");
  return fail(o.name, `${o.roleArn} is denied ${denied.length}: ${list}; attach \`spotferry iam policy\`'s document to the role`);
}

const roleArnOf = (account: string, arn: string): string | undefined => {
  const session = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(arn);
  return session ? `arn:${session[1]}:iam::${session[2] ?? account}:role/${session[3]}` : undefined;
};

/** The document of one role for these configs, or why it cannot be built (no pools, no exports). */
function documentOf(build: (i: PolicyInput) => PolicyDocument, input: PolicyInput): PolicyDocument | string {
  try {
    return build(input);
  } catch (err) {
    return describeError(err);
  }
}

export const policiesCheck: Check = {
  name: "role policies",
  async run(ctx) {
    let account: string;
    let callerArn: string;
    try {
      ({ account, arn: callerArn } = await ctx.identity());
    } catch {
      return [skip("controller policy", "needs working credentials"), skip("node policy", "needs working credentials")];
    }
    const input: PolicyInput = { ...ctx.input, account, region: ctx.region, nodeRoleArn: ctx.nodeRole ?? ctx.input.nodeRoleArn };
    const out: Promise<CheckResult>[] = [];
    const controller = documentOf(controllerPolicy, input);
    // Without --controller-role, a doctor run as the controller (a session of its role) checks that role.
    const controllerRole = ctx.controllerRole ?? roleArnOf(account, callerArn);
    if (typeof controller === "string") out.push(Promise.resolve(skip("controller policy", controller)));
    else if (!controllerRole) {
      out.push(Promise.resolve(skip("controller policy", "give --controller-role ARN (the role the controller runs as)")));
    } else out.push(simulateRole(ctx, { name: "controller policy", roleArn: controllerRole, policy: controller }));

    const node = documentOf(nodePolicy, input);
    const profiles = ctx.input.pools.map((p) => p.instanceProfileArn).filter((a): a is string => a !== undefined);
    const nodeRoles = ctx.nodeRole ? [ctx.nodeRole] : uniq(profiles.map(roleOfInstanceProfile));
    if (typeof node === "string") out.push(Promise.resolve(skip("node policy", node)));
    else if (nodeRoles.length === 0) {
      out.push(Promise.resolve(skip("node policy", "no pool names an instanceProfileArn: give --node-role ARN")));
    } else {
      for (const role of nodeRoles) {
        const name = nodeRoles.length > 1 ? `node policy ${role.split("/").pop()}` : "node policy";
        out.push(simulateRole(ctx, { name, roleArn: role, policy: node }));
      }
    }
    return Promise.all(out);
  },
};
