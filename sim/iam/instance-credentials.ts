import { createHash } from "node:crypto";
import type { Clock } from "../../lib/clock.ts";
import { profileArn, type SessionCredentials, type SimIam } from "./identities.ts";

/**
 * An instance profile's credentials as IMDS serves them: a session of the instance's role (session name = instance
 * id, as on EC2), renewed once the current one is within an hour of its expiry. AWS refreshes well before expiry and
 * the SDK re-reads IMDS 5 minutes before, so a node never holds an expired key. Old tokens stay valid until they expire.
 */
export const ROTATE_BEFORE_MS = 3600_000;

export interface ImdsCredentials {
  Code: "Success";
  LastUpdated: string;
  Type: "AWS-HMAC";
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
}

export interface ImdsIamInfo {
  Code: "Success";
  LastUpdated: string;
  InstanceProfileArn: string;
  InstanceProfileId: string;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** A stable AIPA... id per profile, as IAM gives every instance profile one. */
const profileId = (role: string) => `AIPA${createHash("sha256").update(role).digest("hex").slice(0, 17).toUpperCase()}`;

export class InstanceCredentials {
  readonly role: string;
  readonly profileArn: string;
  private readonly iam: SimIam;
  private readonly clock: Clock;
  private readonly instanceId: string;
  private session?: SessionCredentials;
  private issuedAt = 0;

  constructor(opts: { iam: SimIam; clock: Clock; role: string; instanceId: string; profileArn?: string }) {
    this.iam = opts.iam;
    this.clock = opts.clock;
    this.role = opts.role;
    this.instanceId = opts.instanceId;
    this.profileArn = opts.profileArn ?? profileArn(opts.role);
  }

  /** The current session, renewed when it is within ROTATE_BEFORE_MS of expiring. */
  current(): ImdsCredentials {
    const now = this.clock.now();
    if (!this.session || this.session.Expiration - now <= ROTATE_BEFORE_MS) {
      this.session = this.iam.issueSession(this.role, this.instanceId);
      this.issuedAt = now;
    }
    const s = this.session;
    return {
      Code: "Success",
      LastUpdated: iso(this.issuedAt),
      Type: "AWS-HMAC",
      AccessKeyId: s.AccessKeyId,
      SecretAccessKey: s.SecretAccessKey,
      Token: s.Token,
      Expiration: iso(s.Expiration),
    };
  }

  info(): ImdsIamInfo {
    const updated = this.session ? this.issuedAt : this.clock.now();
    return { Code: "Success", LastUpdated: iso(updated), InstanceProfileArn: this.profileArn, InstanceProfileId: profileId(this.role) };
  }
}
