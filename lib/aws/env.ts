import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * Settings of the AWS clients, built from the standard environment only: AWS_REGION, AWS_PROFILE, credentials, and the
 * service-specific endpoint variables (AWS_ENDPOINT_URL_S3, _DYNAMODB, _EC2, _MONITORING or _CLOUDWATCH, _SECRETS_MANAGER, _SSM, _IAM, _STS). Nothing local is hard-coded here;
 * pointing the variables at the local stack is what makes these clients local. One module per client under lib/aws/,
 * so a process loads only the SDKs it uses (the agent needs S3 and DynamoDB, not EC2 or CloudWatch: -80 MB RSS).
 * The CLI's `--profile` and `--region` set AWS_PROFILE and AWS_REGION (lib/cli/global-options.ts), so every client
 * and every agent process it starts see the same choice.
 */
export type Env = Record<string, string | undefined>;

/**
 * The region, in the SDK's documented order (client config, then AWS_REGION, then the shared config files): AWS_REGION
 * (which `--region` sets), AWS_DEFAULT_REGION (the AWS CLI's name), the profile's `region` in the shared credentials
 * file, then in the config file (the SDK prefers the credentials file too), else us-east-1 (where the SDK would ask
 * IMDS and then fail).
 */
export const region = (env: Env) => env.AWS_REGION || env.AWS_DEFAULT_REGION || profileRegion(env) || "us-east-1";

/** The profile the SDK reads (AWS_PROFILE, else "default"), passed to every client so config and credentials agree. */
export const profile = (env: Env) => env.AWS_PROFILE || undefined;

export const endpointFor = (env: Env, ...names: string[]) => {
  for (const n of names) if (env[`AWS_ENDPOINT_URL_${n}`]) return env[`AWS_ENDPOINT_URL_${n}`];
  return env.AWS_ENDPOINT_URL;
};
/** Static keys from the given environment, else the SDK's default provider chain (the profile, instance role, ...). */
export const credentials = (env: Env) =>
  env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
    ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN }
    : undefined;
export const checksumMode = (v: string | undefined) => (v === "WHEN_REQUIRED" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED");

const expandHome = (file: string) => (file.startsWith("~/") ? join(homedir(), file.slice(2)) : file);

/** The `region` of the profile in the shared files (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE or their ~/.aws/ defaults). */
export function profileRegion(env: Env): string | undefined {
  const name = env.AWS_PROFILE || "default";
  const credentialsFile = expandHome(env.AWS_SHARED_CREDENTIALS_FILE || join(homedir(), ".aws", "credentials"));
  const configFile = expandHome(env.AWS_CONFIG_FILE || join(homedir(), ".aws", "config"));
  // The config file names profiles `[profile x]` (and `[default]`); the credentials file names them `[x]`.
  const configSection = name === "default" ? ["default", "profile default"] : [`profile ${name}`];
  return iniValue(credentialsFile, [name], "region") ?? iniValue(configFile, configSection, "region");
}

/** One key of the first of `sections` that has it in an INI file; undefined when the file or key is missing. */
function iniValue(file: string, sections: string[], key: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const found = new Map<string, string>();
  let section: string | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, "");
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[\s*([^\]]+?)\s*\]/.exec(line);
    if (head) {
      section = (head[1] as string).replace(/\s+/g, " ");
      continue;
    }
    // Indented lines continue a nested setting (s3 =\n  addressing_style = ...): not a top-level key.
    if (section === null || raw !== line) continue;
    const kv = /^([^=]+?)\s*=\s*(.*?)\s*$/.exec(line);
    if (kv && kv[1] === key && sections.includes(section) && !found.has(section)) found.set(section, kv[2] as string);
  }
  for (const s of sections) if (found.get(s)) return found.get(s);
  return undefined;
}
