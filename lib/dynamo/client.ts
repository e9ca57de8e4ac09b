import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { credentials, type Env, endpointFor, region } from "../aws/env.ts";

export function dynamoClient(env: Env = process.env): DynamoDBClient {
  return new DynamoDBClient({ region: region(env), endpoint: endpointFor(env, "DYNAMODB"), credentials: credentials(env), maxAttempts: 8 });
}
