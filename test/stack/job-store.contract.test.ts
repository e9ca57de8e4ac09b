import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { FakeClock } from "../../lib/clock.ts";
import { digest, EXPORTS_KEY, exportPk, META } from "../../lib/dynamo/keys.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { newPartitionItem } from "../../lib/jobs/items.ts";
import { jobStoreContract, plan } from "../contract/job-store.contract.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

// The JobStore contract against DynamoDB (DynamoDB Local from the local stack), on a table of this file's own.
jobStoreContract("DynamoJobStore", async () => {
  const t = await tempStateTable("jobstore");
  return {
    open: (clock) => new DynamoJobStore({ client: t.client, tableName: t.tableName, clock }),
    close: () => t.drop(),
  };
});

describe("DynamoJobStore: a create that crashed half way", () => {
  let t: Awaited<ReturnType<typeof tempStateTable>>;
  before(async () => {
    t = await tempStateTable("jobstore-crash");
  });
  after(async () => t?.drop());

  test("a PLANNING export left with another plan is replaced, leftovers deleted, nothing claimable before the commit", async () => {
    const clock = new FakeClock();
    const store = new DynamoJobStore({ client: t.client, tableName: t.tableName, clock });
    const doc = DynamoDBDocumentClient.from(t.client, { marshallOptions: { removeUndefinedValues: true } });
    const p = plan(3);
    const now = new Date(clock.now()).toISOString();
    // What a crash after writing the header and 6 unqueued partitions of an older plan leaves behind.
    await doc.send(
      new PutCommand({
        TableName: t.tableName,
        Item: {
          ...{ pk: exportPk(p.exportId), sk: META, type: "EXPORT", exportId: p.exportId, spec: p.spec, specHash: digest(p.spec) },
          ...{ state: "PLANNING", keyColumns: p.keyColumns, keyIndex: "PRIMARY", lowKey: ["0"], highWatermark: ["5999"] },
          ...{ partitionCount: 6, estimatedRows: 6000, rowsExported: 0, bytesExported: 0, planHash: "old", queued: false },
          ...{ createdAt: now, updatedAt: now, gsi1pk: EXPORTS_KEY, gsi1sk: `${now}#${p.exportId}` },
        },
      }),
    );
    for (let n = 0; n < 6; n++) {
      const item = newPartitionItem({
        ...{ exportId: p.exportId, partition: n, pool: p.spec.pool, lo: [String(n)], hi: [String(n + 1)], estimatedRows: 1 },
        ...{ now, shards: 8, planHash: "old", queued: false },
      });
      await doc.send(new PutCommand({ TableName: t.tableName, Item: item }));
    }
    assert.equal(await store.claim({ pool: p.spec.pool, owner: "early", leaseMs: 1000 }), null);
    const result = await store.createExport(p);
    assert.deepEqual([result.created, result.export.state, result.export.partitionCount, result.export.queued], [true, "RUNNING", 3, true]);
    const parts = await store.listPartitions(p.exportId);
    assert.deepEqual(
      parts.items.map((x) => [x.partition, x.lo, x.hi]),
      p.partitions.map((x, i) => [i, x.lo, x.hi]),
    );
    let claims = 0;
    while (await store.claim({ pool: p.spec.pool, owner: "n", leaseMs: 1000 })) claims++;
    assert.equal(claims, 3);
  });
});
