import { randomBytes } from "node:crypto";
import { CreateSecretCommand, DescribeSecretCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import mysql from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { PoolSpec } from "../../config/pool-spec.ts";
import type { ControllerSettings } from "../../config/settings.ts";
import { controllerPolicy, nodePolicy } from "../../controller/iam/policies.ts";
import { region } from "../../lib/aws/env.ts";
import { secretsManagerClient } from "../../lib/aws/secrets-manager.ts";
import type { PolicyDocument } from "../../lib/iam/policy-document.ts";
import { ACCOUNT_ID } from "../iam/identities.ts";
import {
  type DataOptions,
  type PoolOptions,
  type RehearsalNames,
  rehearsalExportSpec,
  rehearsalPool,
  rehearsalSettings,
  stackSource,
} from "./setup.ts";

/**
 * Who is who in a rehearsal, set up the way an operator sets up an AWS account before the first export:
 * - a MySQL user that may only SELECT the exported database and only over TLS, its password in Secrets Manager as an
 *   RDS-managed secret (JSON with username, password, host, port), rotated on every run;
 * - the controller role and the node role, with the policies `spotferry iam policy controller|node` prints for this
 *   rehearsal's configs attached in the sim, which enforces them;
 * - a session of the controller role for everything the controller does (`pool apply`, `export plan`, the controller,
 *   the CLI, `export verify`); the nodes get theirs from IMDS through the pool's instance profile.
 * Setup (state table, buckets, seeding, the user and the secret) stays with the operator's own keys.
 */
export interface RehearsalRoles {
  controller: string;
  node: string;
}

export const rehearsalRoles = (names: RehearsalNames): RehearsalRoles => ({
  controller: `spotferry-${names.pool}-controller`,
  node: `spotferry-${names.pool}-node`,
});

export const instanceProfileArn = (role: string) => `arn:aws:iam::${ACCOUNT_ID}:instance-profile/${role}`;

/** The rehearsal's MySQL user (MariaDB user names are up to 80 characters). */
export const rehearsalMysqlUser = (names: RehearsalNames) => `sf_${names.pool}`.slice(0, 80);

type Env = Record<string, string | undefined>;

export interface SourceLogin {
  user: string;
  secretArn: string;
}

/**
 * Creates (or rotates) the rehearsal's MySQL user: SELECT on the database only, REQUIRE SSL, a fresh random password,
 * stored as the secret `spotferry/<pool>/mysql`. The password never leaves this function except into the secret.
 */
export async function provisionSourceLogin(opts: {
  adminEnv: Env;
  names: RehearsalNames;
  source: { host: string; port: number };
  adminConnection: mysql.ConnectionOptions;
}): Promise<SourceLogin> {
  const user = rehearsalMysqlUser(opts.names);
  const password = randomBytes(18).toString("base64url");
  const conn = await mysql.createConnection(opts.adminConnection);
  try {
    await conn.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ? REQUIRE SSL", [user, password]);
    await conn.query("ALTER USER ?@'%' IDENTIFIED BY ? REQUIRE SSL", [user, password]);
    await conn.query(`GRANT SELECT ON \`${opts.names.database}\`.* TO ?@'%'`, [user]);
  } catch (cause) {
    throw new Error(`creating the rehearsal's MySQL user ${user}`, { cause });
  } finally {
    await conn.end().catch(() => {});
  }
  const value = JSON.stringify({ engine: "mariadb", username: user, password, host: opts.source.host, port: opts.source.port });
  const secretArn = await putSecret(opts.adminEnv, `spotferry/${opts.names.pool}/mysql`, value);
  return { user, secretArn };
}

/** CreateSecret, or PutSecretValue when it exists (a re-run rotates the password); returns the secret's ARN. */
async function putSecret(env: Env, name: string, value: string): Promise<string> {
  const sm = secretsManagerClient(env);
  try {
    const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    return created.ARN!;
  } catch (err) {
    if ((err as { name?: string }).name !== "ResourceExistsException") throw new Error(`storing the secret ${name}`, { cause: err });
    await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
    const described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    return described.ARN!;
  } finally {
    sm.destroy();
  }
}

export interface AttachedPolicies {
  controller: PolicyDocument;
  node: PolicyDocument;
}

/** Prints both policies for the rehearsal's configs (as `spotferry iam policy` does) and attaches them in the sim. */
export async function attachPolicies(opts: {
  simUrl: string;
  roles: RehearsalRoles;
  settings: ControllerSettings;
  pool: PoolSpec;
  exportSpec: ExportSpec;
  region: string;
}): Promise<AttachedPolicies> {
  const input = { settings: opts.settings, pools: [opts.pool], exports: [opts.exportSpec], account: ACCOUNT_ID, region: opts.region };
  const policies = { controller: controllerPolicy(input), node: nodePolicy(input) };
  await simIam(opts.simUrl, "PUT", `/roles/${opts.roles.controller}`, { policy: policies.controller });
  await simIam(opts.simUrl, "PUT", `/roles/${opts.roles.node}`, { policy: policies.node });
  return policies;
}

/** A session of the role (on AWS: sts:AssumeRole, or the controller host's own instance profile) as environment. */
export async function roleSessionEnv(simUrl: string, role: string, base: Env): Promise<Env> {
  const s = (await simIam(simUrl, "POST", `/roles/${role}/session`, { sessionName: "rehearsal" })) as {
    AccessKeyId: string;
    SecretAccessKey: string;
    Token: string;
  };
  return { ...base, AWS_ACCESS_KEY_ID: s.AccessKeyId, AWS_SECRET_ACCESS_KEY: s.SecretAccessKey, AWS_SESSION_TOKEN: s.Token };
}

async function simIam(simUrl: string, method: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${simUrl}/_sim/iam${path}`, {
    method,
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} /_sim/iam${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export interface RehearsalIdentity {
  roles: RehearsalRoles;
  policies: AttachedPolicies;
  login: SourceLogin;
  settings: ControllerSettings;
  pool: PoolSpec;
  exportSpec: ExportSpec;
  /** The controller role's session, every AWS endpoint at the sim. */
  controllerEnv: Env;
}

/** The account as the operator prepares it: the source login and its secret, the two roles and their policies. */
export async function stageIdentity(o: {
  names: RehearsalNames;
  adminEnv: Env;
  sim: { url: string };
  data: DataOptions;
  pool: PoolOptions;
  controller?: Record<string, unknown>;
}): Promise<RehearsalIdentity> {
  const { names, adminEnv } = o;
  const roles = rehearsalRoles(names);
  const source = stackSource(adminEnv);
  const login = await provisionSourceLogin({
    adminEnv,
    names,
    source,
    adminConnection: { ...source, password: adminEnv.SPOTFERRY_MYSQL_PASSWORD },
  });
  const settings = rehearsalSettings(names, o.controller);
  const pool = rehearsalPool({ names, pool: o.pool, instanceProfileArn: instanceProfileArn(roles.node) });
  const exportSpec = rehearsalExportSpec({ env: adminEnv, names, data: o.data, login });
  const policies = await attachPolicies({ simUrl: o.sim.url, roles, settings, pool, exportSpec, region: region(adminEnv) });
  const controllerEnv = await roleSessionEnv(o.sim.url, roles.controller, adminEnv);
  return { roles, policies, login, settings, pool, exportSpec, controllerEnv };
}
