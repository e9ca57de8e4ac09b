import { readFileSync } from "node:fs";
import type { PolicyDocument } from "../../lib/iam/policy-document.ts";
import type { RecordedCall } from "../front-door/recorder.ts";
import { type DeniedRequest, policyCoverage, type UnusedAction } from "../iam/coverage.ts";
import { evaluate } from "../iam/evaluate.ts";
import type { Denial } from "../iam/identities.ts";
import type { RehearsalRoles } from "./identity.ts";

/**
 * The printed policies against what each role really did in the rehearsal, both ways: every recorded request
 * (EC2, CloudWatch, Secrets Manager, SSM served by the sim; S3 and DynamoDB through its front doors) must be allowed,
 * and every action the policy grants must have been used by some call, unless its statement's Sid names a rare call.
 * The sim's own denials count too: a denied call the product retried past would still be a broken policy on AWS.
 */
export interface RoleCheck {
  role: string;
  calls: number;
  /** Distinct "service:Api" the role called. */
  apis: string[];
  /** Distinct IAM actions its calls were authorised as. */
  actions: string[];
  denied: DeniedRequest[];
  unused: UnusedAction[];
  simDenials: Pick<Denial, "action" | "resource" | "message">[];
  truncated: boolean;
}

export interface PolicyChecks {
  controller: RoleCheck;
  node: RoleCheck;
}

export const policiesHold = (c: PolicyChecks) =>
  [c.controller, c.node].every((r) => r.calls > 0 && !r.truncated && !r.denied.length && !r.unused.length && !r.simDenials.length);

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function checkRole(simUrl: string, role: string, policy: PolicyDocument, denials: Denial[]): Promise<RoleCheck> {
  const { calls, truncated } = await getJson<{ calls: RecordedCall[]; truncated: boolean }>(
    `${simUrl}/_sim/calls?role=${encodeURIComponent(role)}`,
  );
  const coverage = policyCoverage({ policy, calls, evaluate });
  return {
    role,
    calls: calls.length,
    apis: [...new Set(calls.map((c) => `${c.service}:${c.api}`))].sort(),
    actions: [...new Set(calls.flatMap((c) => c.requests.map((r) => r.action)))].sort(),
    denied: coverage.denied,
    unused: coverage.unused,
    simDenials: denials.filter((d) => d.role === role).map(({ action, resource, message }) => ({ action, resource, message })),
    truncated,
  };
}

export async function checkPolicies(simUrl: string, roles: RehearsalRoles, policies: Record<keyof RehearsalRoles, PolicyDocument>) {
  const denials = await getJson<Denial[]>(`${simUrl}/_sim/iam/denials`);
  return {
    controller: await checkRole(simUrl, roles.controller, policies.controller, denials),
    node: await checkRole(simUrl, roles.node, policies.node, denials),
  };
}

/** Report lines: one per role, and one per problem. */
export function policyLines(c: PolicyChecks): string[] {
  const lines: string[] = [];
  for (const [side, r] of Object.entries(c) as [string, RoleCheck][]) {
    const problems = r.denied.length + r.unused.length + r.simDenials.length;
    lines.push(
      `  iam ${side.padEnd(11)} ${problems || r.truncated ? "FAIL" : "ok  "} role ${r.role}: ${r.calls.toLocaleString("en-US")} calls, ${r.apis.length} APIs as ${r.actions.length} actions; ${r.denied.length + r.simDenials.length} denied, ${r.unused.length} granted but unused`,
    );
    for (const d of r.simDenials) lines.push(`                  denied by the sim: ${d.message}`);
    for (const d of r.denied) lines.push(`                  not allowed by the policy: ${d.action} on ${d.resource} (${d.api})`);
    for (const u of r.unused) lines.push(`                  unused: ${u.action} (statement ${u.sid})`);
  }
  return lines;
}

export interface NodeEnvCheck {
  /** Running nodes whose process environment was read. */
  inspected: number;
  /** "i-...: NAME" for every credential variable or secret value found. */
  leaks: string[];
}

const CREDENTIAL_VARS =
  /^(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AWS_PROFILE|AWS_SHARED_CREDENTIALS_FILE|AWS_CONFIG_FILE)$|PASSWORD|SECRET/;

/**
 * Reads the environment of every running node's processes (/proc/PID/environ of the user-data's process group: the
 * agent is exec'd in its place) and looks for what an EC2 instance never has: credential variables, the MySQL
 * password, the operator's secret key. Nodes must have learned their keys from IMDS only.
 */
export async function inspectNodeEnvironments(simUrl: string, secrets: string[]): Promise<NodeEnvCheck> {
  const instances = await getJson<{ instanceId: string; state: string; pid?: number }[]>(`${simUrl}/_sim/instances`);
  const leaks: string[] = [];
  let inspected = 0;
  for (const i of instances) {
    if (i.state !== "running" || !i.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${i.pid}/environ`, "latin1");
    } catch {
      continue; // ended meanwhile
    }
    inspected++;
    for (const entry of environ.split("\0").filter(Boolean)) {
      const eq = entry.indexOf("=");
      const [name, value] = [entry.slice(0, eq), entry.slice(eq + 1)];
      // Endpoint variables name services, not secrets (AWS_ENDPOINT_URL_SECRETS_MANAGER).
      if (CREDENTIAL_VARS.test(name) && !name.startsWith("AWS_ENDPOINT_URL")) leaks.push(`${i.instanceId}: ${name}`);
      else if (secrets.some((s) => s.length >= 8 && value.includes(s))) leaks.push(`${i.instanceId}: a secret value in ${name}`);
      else if (name === "PATH" && value.includes("node_modules")) leaks.push(`${i.instanceId}: the host's PATH`);
    }
  }
  return { inspected, leaks };
}
