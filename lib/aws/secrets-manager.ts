import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

// Re-exported for lazy callers: see lib/aws/ssm.ts.
export { GetSecretValueCommand };

import { credentials, type Env, endpointFor, profile, region } from "./env.ts";

/** Secrets Manager from the standard environment (AWS_ENDPOINT_URL_SECRETS_MANAGER, the SDK's own name for it). */
export function secretsManagerClient(env: Env = process.env): SecretsManagerClient {
  return new SecretsManagerClient({
    region: region(env),
    profile: profile(env),
    endpoint: endpointFor(env, "SECRETS_MANAGER"),
    credentials: credentials(env),
    maxAttempts: 3,
  });
}
