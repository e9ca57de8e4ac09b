import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LOCAL_CREDENTIALS } from "./credentials.ts";

/**
 * The access keys of the local "account". `root` is the operator's own key (what `.spotferry/local.env` exports and
 * the stack's setup uses); `pool` keys are never given to anyone directly: the sim hands them out as role sessions
 * (IMDS instance-profile credentials, the controller's session), which is the only way a node learns a key. Swift's
 * tempauth knows fixed keys only, so the set is made once per stack home and registered with Swift at start.
 * DynamoDB Local accepts any alphanumeric key.
 */
export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface StackIdentities {
  root: AccessKey[];
  pool: AccessKey[];
}

export const POOL_KEYS = 16;
export const identitiesFile = (home: string) => join(home, "identities.json");

/** Reads the stack's identities, creating them (mode 0600) the first time. */
export function ensureIdentities(home: string): StackIdentities {
  const file = identitiesFile(home);
  if (existsSync(file)) {
    const found = JSON.parse(readFileSync(file, "utf8")) as StackIdentities;
    if (found.pool?.length === POOL_KEYS && found.root?.length) return found;
  }
  const identities: StackIdentities = {
    root: [{ accessKeyId: LOCAL_CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: LOCAL_CREDENTIALS.AWS_SECRET_ACCESS_KEY }],
    // ASIA: the prefix AWS gives temporary keys; digits and capitals only, as DynamoDB Local requires.
    pool: Array.from({ length: POOL_KEYS }, (_, i) => ({
      accessKeyId: `ASIASPOTFERRY${String(i + 1).padStart(4, "0")}${randomBytes(4).toString("hex").toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString("base64url"),
    })),
  };
  mkdirSync(home, { recursive: true });
  writeFileSync(file, `${JSON.stringify(identities, null, 2)}\n`, { mode: 0o600 });
  return identities;
}
