import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { credentials, type Env, endpointFor, profile, region } from "./env.ts";

export function cloudWatchClient(env: Env = process.env): CloudWatchClient {
  return new CloudWatchClient({
    region: region(env),
    profile: profile(env),
    endpoint: endpointFor(env, "MONITORING", "CLOUDWATCH"),
    credentials: credentials(env),
  });
}
