import { randomBytes } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { createStateTable, deleteStateTable } from "../../lib/dynamo/table.ts";

/** A state table of its own for one test file, on the DynamoDB the environment points at (the local stack). */
export async function tempStateTable(prefix: string): Promise<{ client: DynamoDBClient; tableName: string; drop(): Promise<void> }> {
  if (!process.env.AWS_ENDPOINT_URL_DYNAMODB && !process.env.AWS_ENDPOINT_URL) {
    throw new Error("AWS_ENDPOINT_URL_DYNAMODB is not set: run `npx spotferry local up` and source .spotferry/local.env");
  }
  const client = dynamoClient();
  const tableName = `t-${prefix}-${randomBytes(4).toString("hex")}`;
  await createStateTable(client, tableName);
  return {
    client,
    tableName,
    drop: async () => {
      await deleteStateTable(client, tableName);
      client.destroy();
    },
  };
}
