import type { PolicyDocument } from "../../lib/iam/policy-document.ts";
import type { World } from "../world.ts";
import { roleArn } from "./identities.ts";

/**
 * The IAM part of the control API: roles and their policies (what `spotferry iam policy` prints, attached the way an
 * operator attaches it on AWS), sessions for processes on the host (on AWS: sts:AssumeRole or the host's own
 * instance profile), and the denials so far.
 *
 *   PUT  /_sim/iam/roles/NAME          { "policy": {...} }   create or replace
 *   GET  /_sim/iam/roles
 *   POST /_sim/iam/roles/NAME/session  { "sessionName": "controller" }
 *   GET  /_sim/iam/denials
 */
export interface IamControlReply {
  status: number;
  body: string;
}

const json = (status: number, value: unknown): IamControlReply => ({ status, body: `${JSON.stringify(value)}\n` });

/** The reply for an /iam/... path (relative to /_sim), or undefined when the path is not IAM's. */
export function answerIam(w: World, method: string, path: string, input: Record<string, unknown>): IamControlReply | undefined {
  if (path === "/iam/denials" && method === "GET") return json(200, w.iam.denials());
  if (path === "/iam/roles" && method === "GET") {
    return json(
      200,
      w.iam.roles().map((r) => ({ name: r.name, arn: roleArn(r.name), policy: r.policy, createdAt: new Date(r.createdAt).toISOString() })),
    );
  }
  const role = /^\/iam\/roles\/([^/]+)$/.exec(path)?.[1];
  if (role !== undefined && method === "PUT") {
    const name = decodeURIComponent(role);
    const r = w.iam.putRole(name, input.policy as PolicyDocument | undefined);
    w.events.add("role-put", { role: name, statements: r.policy?.Statement.length ?? 0 });
    return json(200, { name, arn: roleArn(name), policy: r.policy });
  }
  const session = /^\/iam\/roles\/([^/]+)\/session$/.exec(path)?.[1];
  if (session !== undefined && method === "POST") {
    const name = decodeURIComponent(session);
    const sessionName = typeof input.sessionName === "string" && input.sessionName ? input.sessionName : "sim-control";
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) throw new Error(`issuing a session of role ${name}: invalid sessionName ${sessionName}`);
    const s = w.iam.issueSession(name, sessionName);
    return json(200, { ...s, Expiration: new Date(s.Expiration).toISOString() });
  }
  return undefined;
}
