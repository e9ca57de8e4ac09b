import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
  type TableDescription,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { systemClock } from "../clock.ts";
import { GSI1, TTL_ATTRIBUTE } from "./keys.ts";
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
    // Only items that carry the attribute ever expire, so enabling it changes nothing until a retention is set.
    await client.send(
      new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true } }),
    );
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

/** The table's TTL status and attribute (DescribeTimeToLive): "ENABLED" once createStateTable made it. */
export async function stateTableTtl(client: DynamoDBClient, tableName: string): Promise<{ status: string; attribute: string | null }> {
  try {
    const out = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    const d = out.TimeToLiveDescription;
    return { status: d?.TimeToLiveStatus ?? "DISABLED", attribute: d?.AttributeName ?? null };
  } catch (cause) {
    throw new Error(`reading the TTL of state table ${tableName}`, { cause });
  }
}

export async function deleteStateTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DeleteTableCommand({ TableName: tableName }));
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return;
    throw new Error(`deleting state table ${tableName}`, { cause: err });
  }
}

/** What a read-only preflight (`spotferry doctor`) learns of the state table: undefined when it does not exist. */
export interface StateTableShape {
  status: string;
  /** Each way the table differs from what createStateTable makes; empty when it matches. */
  problems: string[];
}

export async function describeStateTable(
  client: DynamoDBClient,
  tableName: string,
  signal?: AbortSignal,
): Promise<StateTableShape | undefined> {
  let t: TableDescription;
  try {
    t = (await client.send(new DescribeTableCommand({ TableName: tableName }), { abortSignal: signal })).Table ?? {};
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw new Error(`describing state table ${tableName}`, { cause: err });
  }
  const keys = (k: { AttributeName?: string; KeyType?: string }[] | undefined) =>
    (k ?? []).map((e) => `${e.AttributeName} ${e.KeyType}`).join(", ");
  const problems: string[] = [];
  if (keys(t.KeySchema) !== "pk HASH, sk RANGE") problems.push(`key schema is [${keys(t.KeySchema)}], expected [pk HASH, sk RANGE]`);
  const gsi = t.GlobalSecondaryIndexes?.find((i) => i.IndexName === GSI1);
  if (!gsi) problems.push(`no global secondary index ${GSI1}`);
  else {
    if (keys(gsi.KeySchema) !== "gsi1pk HASH, gsi1sk RANGE")
      problems.push(`index ${GSI1} keys are [${keys(gsi.KeySchema)}], expected [gsi1pk HASH, gsi1sk RANGE]`);
    if (gsi.Projection?.ProjectionType !== "ALL") problems.push(`index ${GSI1} projects ${gsi.Projection?.ProjectionType}, expected ALL`);
    if (gsi.IndexStatus && gsi.IndexStatus !== "ACTIVE") problems.push(`index ${GSI1} is ${gsi.IndexStatus}`);
  }
  for (const a of t.AttributeDefinitions ?? []) {
    if (a.AttributeType !== "S") problems.push(`attribute ${a.AttributeName} is type ${a.AttributeType}, expected S`);
  }
  return { status: t.TableStatus ?? "UNKNOWN", problems };
}
