import { EC2Client } from "@aws-sdk/client-ec2";
import { credentials, type Env, endpointFor, profile, region } from "./env.ts";

export function ec2Client(env: Env = process.env): EC2Client {
  return new EC2Client({ region: region(env), profile: profile(env), endpoint: endpointFor(env, "EC2"), credentials: credentials(env) });
}
