import { IAMClient, SimulatePrincipalPolicyCommand } from "@aws-sdk/client-iam";
import { credentials, type Env, endpointFor, profile, region } from "./env.ts";

// Re-exported for lazy callers: see lib/aws/ssm.ts.
export { SimulatePrincipalPolicyCommand };

/** IAM from the standard environment (AWS_ENDPOINT_URL_IAM, the SDK's own name for it). IAM is global: us-east-1 signs. */
export function iamClient(env: Env = process.env): IAMClient {
  return new IAMClient({
    region: region(env),
    profile: profile(env),
    endpoint: endpointFor(env, "IAM"),
    credentials: credentials(env),
    maxAttempts: 3,
  });
}
