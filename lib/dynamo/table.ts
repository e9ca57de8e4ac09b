import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { systemClock } from "../clock.ts";
import { GSI1 } from "./keys.ts";
import { checkLayout } from "./layout.ts";

/**
 * Lifecycle of the state table: string pk/sk and one sparse GSI (gsi1pk/gsi1sk) that holds only queued partitions
 * (claim and reap queues) and export headers. The index projects every attribute so a claimer or reaper can fence
 * on what it read without another read.
 */
export async function createStateTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [
          { AttributeName: "pk", AttributeType: "S" },
          { AttributeName: "sk", AttributeType: "S" },
          { AttributeName: "gsi1pk", AttributeType: "S" },
          { AttributeName: "gsi1sk", AttributeType: "S" },
        ],
        KeySchema: [
          { AttributeName: "pk", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: GSI1,
            KeySchema: [
              { AttributeName: "gsi1pk", KeyType: "HASH" },
              { AttributeName: "gsi1sk", KeyType: "RANGE" },
            ],
            Projection: { ProjectionType: "ALL" },
          },
        ],
      }),
    );
    await waitUntilTableExists({ client, maxWaitTime: 120 }, { TableName: tableName });
  } catch (cause) {
    throw new Error(`creating state table ${tableName}`, { cause });
  }
  await checkLayout({ client, tableName, clock: systemClock, migrate: true });
}

/**
 * Creates the state table unless it exists, and brings an existing one to this release's layout (lib/dynamo/layout.ts:
 * a newer one is refused); returns whether it created it.
 */
export async function ensureStateTable(client: DynamoDBClient, tableName: string): Promise<boolean> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw new Error(`reading state table ${tableName}`, { cause: err });
    await createStateTable(client, tableName);
    return true;
  }
  await checkLayout({ client, tableName, clock: systemClock, migrate: true });
  return false;
}

export async function deleteStateTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DeleteTableCommand({ TableName: tableName }));
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return;
    throw new Error(`deleting state table ${tableName}`, { cause: err });
  }
}
