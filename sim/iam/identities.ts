import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Clock } from "../../lib/clock.ts";
import type { AuthorizationRequest, PolicyDocument } from "../../lib/iam/policy-document.ts";
import type { Principal } from "../json-services.ts";
import { checkPolicy, evaluate } from "./evaluate.ts";

/**
 * Who may call the sim, and as whom. `root` keys are the account's own (the operator's admin keys: allowed
 * everything, no session token). `pool` keys are never handed out directly: the sim gives them to role sessions
 * (IMDS instance-profile credentials, `POST /_sim/iam/roles/NAME/session`), one key per role for good, told apart
 * by session token, so the S3 store (which knows fixed keys only) can map each key to one role.
 */
export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface Identities {
  root: AccessKey[];
  pool: AccessKey[];
}

export const ACCOUNT_ID = "000000000000";
export const SESSION_LIFETIME_MS = 6 * 3600_000;
const POOL_SIZE = 8;
const MAX_DENIALS = 1000;

export interface Role {
  name: string;
  policy?: PolicyDocument;
  createdAt: number;
}

/** What sts:AssumeRole (and IMDS) hand out; Expiration in epoch ms. */
export interface SessionCredentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: number;
}

export interface IdentityError {
  code: "InvalidClientTokenId" | "ExpiredToken";
  message: string;
}

/** A call the sim served, as its IAM check saw it (the front doors record S3 and DynamoDB calls themselves). */
export interface ServedCall {
  service: string;
  api: string;
  caller: Principal;
  requests: AuthorizationRequest[];
  denial: Denial | undefined;
}

export interface Denial {
  action: string;
  resource: string;
  /** The caller's role ("" for a caller without one). */
  role: string;
  message: string;
  caller: string;
  time: number;
}

interface Session {
  role: string;
  name: string;
  accessKeyId: string;
  expiration: number;
}

const alnum = (n: number) => {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  return [...randomBytes(n)].map((b) => chars[b % chars.length]).join("");
};

export const DEFAULT_ROOT: AccessKey = { accessKeyId: "test", secretAccessKey: "test" };

/** test/test as the root key and 8 fresh pool keys: a sim that reaches no local stack. */
export function generatedIdentities(): Identities {
  return {
    root: [DEFAULT_ROOT],
    pool: Array.from({ length: POOL_SIZE }, () => ({
      accessKeyId: `ASIASIM${alnum(13)}`,
      secretAccessKey: randomBytes(30).toString("base64url"),
    })),
  };
}

/** The identities a sim starts with: the given ones, the file SPOTFERRY_SIM_IDENTITIES names, or test/test and 8 pool keys. */
export function loadIdentities(given: Identities | undefined, env: NodeJS.ProcessEnv = process.env): Identities {
  if (given) return given;
  const file = env.SPOTFERRY_SIM_IDENTITIES;
  if (file) {
    let parsed: Identities;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8")) as Identities;
    } catch (err) {
      throw new Error(`reading the sim's identities from ${file} (SPOTFERRY_SIM_IDENTITIES)`, { cause: err });
    }
    if (!Array.isArray(parsed.root) || !Array.isArray(parsed.pool)) {
      throw new Error(`reading the sim's identities from ${file}: expected { root: [...], pool: [...] }`);
    }
    return parsed;
  }
  return generatedIdentities();
}

export const rootArn = `arn:aws:iam::${ACCOUNT_ID}:root`;
export const roleArn = (role: string) => `arn:aws:iam::${ACCOUNT_ID}:role/${role}`;
export const profileArn = (role: string) => `arn:aws:iam::${ACCOUNT_ID}:instance-profile/${role}`;
export const sessionArn = (role: string, session: string) => `arn:aws:sts::${ACCOUNT_ID}:assumed-role/${role}/${session}`;

export function denialMessage(callerArn: string, req: AuthorizationRequest, explicit: boolean): string {
  const why = explicit
    ? "with an explicit deny in an identity-based policy"
    : `because no identity-based policy allows the ${req.action} action`;
  return `User: ${callerArn} is not authorized to perform: ${req.action} on resource: ${req.resource} ${why}`;
}

export class SimIam {
  private readonly clock: Clock;
  private readonly root: Map<string, AccessKey>;
  private readonly free: AccessKey[];
  private readonly keyOfRole = new Map<string, AccessKey>();
  private readonly roleOfKey = new Map<string, string>();
  private readonly sessions = new Map<string, Session>();
  private readonly roleMap = new Map<string, Role>();
  private readonly denialLog: Denial[] = [];
  private readonly onDenial: (d: Denial) => void;
  private readonly onServed: (c: ServedCall) => void;

  constructor(opts: {
    identities: Identities;
    clock: Clock;
    onDenial?: (d: Denial) => void;
    /** Every check of a call the sim serves itself (EC2, CloudWatch, Secrets Manager, SSM), allowed or not. */
    onServed?: (c: ServedCall) => void;
  }) {
    this.clock = opts.clock;
    this.root = new Map(opts.identities.root.map((k) => [k.accessKeyId, k]));
    this.free = [...opts.identities.pool];
    this.onDenial = opts.onDenial ?? (() => {});
    this.onServed = opts.onServed ?? (() => {});
  }

  /** Creates or replaces a role; its policy is checked first, so a policy the sim cannot judge is refused. */
  putRole(name: string, policy?: PolicyDocument): Role {
    if (!/^[\w+=,.@-]{1,64}$/.test(name)) throw new Error(`putting role ${JSON.stringify(name)}: not a valid role name`);
    if (policy !== undefined) {
      try {
        checkPolicy(policy);
      } catch (err) {
        throw new Error(`putting role ${name}: ${(err as Error).message}`, { cause: err });
      }
    }
    const role: Role = { name, policy, createdAt: this.roleMap.get(name)?.createdAt ?? this.clock.now() };
    this.roleMap.set(name, role);
    return role;
  }

  /** The account's first root key: what the operator's own tools (and tests) sign with. */
  rootKey(): AccessKey {
    const [key] = this.root.values();
    if (!key) throw new Error("the sim's identities have no root key");
    return key;
  }

  role(name: string): Role | undefined {
    return this.roleMap.get(name);
  }

  roles(): Role[] {
    return [...this.roleMap.values()];
  }

  /** `arn:aws:iam::<acct>:instance-profile/NAME` or NAME -> the role NAME, when the sim knows it. */
  roleOfProfile(profile: { Arn?: string; Name?: string }): string | undefined {
    const name = profile.Name ?? /^arn:aws:iam::\d{12}:instance-profile\/(?:.*\/)?([^/]+)$/.exec(profile.Arn ?? "")?.[1];
    return name !== undefined && this.roleMap.has(name) ? name : undefined;
  }

  /** A new session of `role`: the role's pool key (bound on its first session), a fresh token, 6 h on the sim's clock. */
  issueSession(role: string, sessionName: string): SessionCredentials {
    if (!this.roleMap.has(role)) throw new Error(`issuing a session of role ${role}: no such role`);
    let key = this.keyOfRole.get(role);
    if (!key) {
      key = this.free.shift();
      if (!key) {
        throw new Error(
          `issuing a session of role ${role}: every pool key is bound to another role (${this.keyOfRole.size} roles); ` +
            "add pool keys to the sim's identities",
        );
      }
      this.keyOfRole.set(role, key);
      this.roleOfKey.set(key.accessKeyId, role);
    }
    const token = `IQoJsim${randomBytes(48).toString("base64url")}`;
    const expiration = this.clock.now() + SESSION_LIFETIME_MS;
    this.sessions.set(token, { role, name: sessionName, accessKeyId: key.accessKeyId, expiration });
    this.pruneSessions();
    return { AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey, Token: token, Expiration: expiration };
  }

  private pruneSessions(): void {
    const now = this.clock.now();
    // Expired tokens are kept a day so a late caller still hears ExpiredToken rather than "invalid".
    for (const [t, s] of this.sessions) if (s.expiration < now - 24 * 3600_000) this.sessions.delete(t);
  }

  /** The secret of a key the sim knows (root or pool), for signature checks. */
  secretOf(accessKeyId: string): string | undefined {
    const root = this.root.get(accessKeyId);
    if (root) return root.secretAccessKey;
    const role = this.roleOfKey.get(accessKeyId);
    return role === undefined ? undefined : this.keyOfRole.get(role)?.secretAccessKey;
  }

  identify(accessKeyId: string, sessionToken: string | undefined): Principal | IdentityError {
    const invalid: IdentityError = { code: "InvalidClientTokenId", message: "The security token included in the request is invalid." };
    if (this.root.has(accessKeyId)) {
      // A long-term key never carries a session token.
      return sessionToken ? invalid : { kind: "root", arn: rootArn, accessKeyId };
    }
    if (!this.roleOfKey.has(accessKeyId) || !sessionToken) return invalid;
    const session = this.sessions.get(sessionToken);
    if (!session || session.accessKeyId !== accessKeyId) return invalid;
    if (session.expiration <= this.clock.now()) {
      return { code: "ExpiredToken", message: "The security token included in the request is expired" };
    }
    return { kind: "role", arn: sessionArn(session.role, session.name), role: session.role, session: session.name, accessKeyId };
  }

  /** The first request the caller may not make, as AWS words it (and recorded), or undefined when all are allowed. */
  check(caller: Principal, requests: AuthorizationRequest[], served?: { service: string; api: string }): Denial | undefined {
    const denial = this.decide(caller, requests);
    if (served) this.onServed({ ...served, caller, requests, denial });
    return denial;
  }

  private decide(caller: Principal, requests: AuthorizationRequest[]): Denial | undefined {
    if (caller.kind === "root") return undefined;
    const policy = caller.role === undefined ? undefined : this.roleMap.get(caller.role)?.policy;
    for (const req of requests) {
      const decision = policy ? evaluate([policy], req) : "implicit-deny";
      if (decision === "allow") continue;
      const denial: Denial = {
        action: req.action,
        resource: req.resource,
        role: caller.role ?? "",
        message: denialMessage(caller.arn, req, decision === "explicit-deny"),
        caller: caller.arn,
        time: this.clock.now(),
      };
      this.denialLog.push(denial);
      if (this.denialLog.length > MAX_DENIALS) this.denialLog.shift();
      this.onDenial(denial);
      return denial;
    }
    return undefined;
  }

  denials(): Denial[] {
    return [...this.denialLog];
  }
}
