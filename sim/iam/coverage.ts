import {
  type AuthorizationRequest,
  asList,
  isRareStatement,
  POLICY_VERSION,
  type PolicyDocument,
  type PolicyStatement,
} from "../../lib/iam/policy-document.ts";

/**
 * Checks a printed policy against what a role really did, both ways:
 * - `denied`: every request of every recorded call must be allowed by the policy (else the product breaks on AWS);
 * - `unused`: every action of every Allow statement must be exercised, i.e. that statement with that action alone
 *   allows at least one recorded request, unless the statement's Sid starts with "Rare" (lib/iam/policy-document.ts:
 *   RARE_SID_PREFIX), which says the action serves a rare call that the Sid names (e.g. RareAbortOrphanUploads).
 * `services` limits `unused` to the actions of those services (e.g. ["s3", "dynamodb"], the calls the front doors
 * record); other services' actions are then neither required nor reported.
 */
export type Decision = "allow" | "implicit-deny" | "explicit-deny";
export type Evaluate = (policies: PolicyDocument[], req: AuthorizationRequest) => Decision;

export interface CoverageCall {
  api: string;
  requests: AuthorizationRequest[];
}

export interface CoverageInput {
  policy: PolicyDocument;
  calls: CoverageCall[];
  evaluate: Evaluate;
  services?: string[];
}

export interface DeniedRequest {
  api: string;
  action: string;
  resource: string;
  decision: Exclude<Decision, "allow">;
}

export interface UnusedAction {
  sid: string;
  action: string;
}

export interface Coverage {
  denied: DeniedRequest[];
  unused: UnusedAction[];
}

const serviceOf = (action: string) => action.split(":")[0]!.toLowerCase();

export function policyCoverage(input: CoverageInput): Coverage {
  const { policy, calls, evaluate } = input;
  const denied: DeniedRequest[] = [];
  const seen = new Set<string>();
  const requests: AuthorizationRequest[] = [];
  for (const call of calls) {
    for (const req of call.requests) {
      // One entry per distinct request: a rehearsal repeats the same call thousands of times.
      const id = JSON.stringify([req.action, req.resource, req.context ?? {}]);
      if (seen.has(id)) continue;
      seen.add(id);
      requests.push(req);
      const decision = evaluate([policy], req);
      if (decision !== "allow") denied.push({ api: call.api, action: req.action, resource: req.resource, decision });
    }
  }
  const services = input.services?.map((s) => s.toLowerCase());
  const unused: UnusedAction[] = [];
  policy.Statement.forEach((st, i) => {
    if (st.Effect !== "Allow" || isRareStatement(st) || st.NotAction !== undefined) return;
    for (const action of asList(st.Action)) {
      if (services && !services.includes(serviceOf(action))) continue;
      const alone: PolicyStatement = { ...st, Action: action };
      const doc: PolicyDocument = { Version: POLICY_VERSION, Statement: [alone] };
      const exercised = requests.some((r) => serviceOf(r.action) === serviceOf(action) && evaluate([doc], r) === "allow");
      if (!exercised) unused.push({ sid: st.Sid ?? `#${i}`, action });
    }
  });
  return { denied, unused };
}
