import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { credentials, type Env, endpointFor, profile, region } from "./env.ts";

// Re-exported so callers that load this module lazily get the command from the same (bundled) SDK copy: a dynamic
// import() of the SDK package itself loses its named exports in the esbuild bundle.
export { GetParameterCommand };

/** SSM (Parameter Store) from the standard environment (AWS_ENDPOINT_URL_SSM). */
export function ssmClient(env: Env = process.env): SSMClient {
  return new SSMClient({
    region: region(env),
    profile: profile(env),
    endpoint: endpointFor(env, "SSM"),
    credentials: credentials(env),
    maxAttempts: 3,
  });
}
