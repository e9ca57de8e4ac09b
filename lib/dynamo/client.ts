import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { credentials, type Env, endpointFor, profile, region } from "../aws/env.ts";

/** 8 attempts ride out throttling and a restarting endpoint; AWS_MAX_ATTEMPTS (the SDK's own setting) overrides it. */
export function dynamoClient(env: Env = process.env): DynamoDBClient {
  return new DynamoDBClient({
    region: region(env),
    profile: profile(env),
    endpoint: endpointFor(env, "DYNAMODB"),
    credentials: credentials(env),
    maxAttempts: Number(env.AWS_MAX_ATTEMPTS) || 8,
  });
}
