import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { credentials, type Env, endpointFor, profile, region } from "./env.ts";

// Re-exported for lazy callers: see lib/aws/ssm.ts.
export { GetCallerIdentityCommand };

/** STS from the standard environment (AWS_ENDPOINT_URL_STS), regional as the SDK's default is. */
export function stsClient(env: Env = process.env): STSClient {
  return new STSClient({
    region: region(env),
    profile: profile(env),
    endpoint: endpointFor(env, "STS"),
    credentials: credentials(env),
    maxAttempts: 3,
  });
}
