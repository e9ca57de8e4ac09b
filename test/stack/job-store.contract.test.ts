import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { digest, EXPORTS_KEY, exportPk, META, partitionSk } from "../../lib/dynamo/keys.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { newPartitionItem } from "../../lib/jobs/items.ts";
import { type CrashedCreate, jobStoreContract } from "../contract/job-store.contract.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

// The JobStore contract against DynamoDB (DynamoDB Local from the local stack), on a table of this file's own.
jobStoreContract("DynamoJobStore", async () => {
  const t = await tempStateTable("jobstore");
  const doc = DynamoDBDocumentClient.from(t.client, { marshallOptions: { removeUndefinedValues: true } });
  const put = (Item: Record<string, unknown>) => doc.send(new PutCommand({ TableName: t.tableName, Item }));
  return {
    open: (clock) => new DynamoJobStore({ client: t.client, tableName: t.tableName, clock }),
    close: () => t.drop(),
    partitionBytes: async (exportId, n) => {
      const got = await doc.send(new GetCommand({ TableName: t.tableName, Key: { pk: exportPk(exportId), sk: partitionSk(n) } }));
      return JSON.stringify(got.Item ?? null).length;
    },
    // The raw items a crash after writing the header and the unqueued partitions of an older plan leaves behind.
    seedCrashedCreate: async (c: CrashedCreate) => {
      const id = c.exportId;
      await put({
        ...{ pk: exportPk(id), sk: META, type: "EXPORT", exportId: id, spec: c.spec, specHash: digest(c.spec), state: "PLANNING" },
        ...{ keyColumns: c.keyColumns, keyIndex: "PRIMARY", lowKey: c.partitions[0]?.lo, highWatermark: c.partitions.at(-1)?.hi },
        ...{ partitionCount: c.partitions.length, estimatedRows: c.partitions.reduce((s, x) => s + x.estimatedRows, 0) },
        ...{ rowsExported: 0, bytesExported: 0, planHash: "old", queued: false, createdAt: c.at, updatedAt: c.at },
        ...{ gsi1pk: EXPORTS_KEY, gsi1sk: `${c.at}#${id}` },
      });
      for (const [n, x] of c.partitions.entries()) {
        await put(
          newPartitionItem({
            ...{ exportId: id, partition: n, pool: c.spec.pool, lo: x.lo, hi: x.hi, estimatedRows: x.estimatedRows },
            ...{ now: c.at, shards: 8, planHash: "old", queued: false },
          }),
        );
      }
    },
  };
});
