import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { controllerSettings } from "../../config/settings.ts";
import { FakeCloudProvider } from "../../controller/cloud/fake-provider.ts";
import { staticTemplateSource } from "../../controller/reconcilers/context.ts";
import { retention } from "../../controller/reconcilers/retention.ts";
import { MemoryFleetStore } from "../../controller/store/memory-fleet-store.ts";
import { FakeClock } from "../../lib/clock.ts";
import { exportPk, META, partitionLogPk, partitionSk } from "../../lib/dynamo/keys.ts";
import { stateTableTtl } from "../../lib/dynamo/table.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { chunk, plan } from "../contract/job-store.contract.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/**
 * Retention (issue 17): the state table is created with TTL on `expiresAt` (UpdateTimeToLive, read back with
 * DescribeTimeToLive), and the retention reconciler writes that attribute (epoch seconds) on every item of a finished
 * export. DynamoDB Local deletes expired items only when it gets to them, so the test checks the attribute, not a deletion.
 */

let table: Awaited<ReturnType<typeof tempStateTable>>;
before(async () => {
  table = await tempStateTable("retention");
});
after(async () => table?.drop());

test("TTL is enabled on expiresAt, and a finished export's items get it; a running one's do not", async () => {
  assert.deepEqual(await stateTableTtl(table.client, table.tableName), { status: "ENABLED", attribute: "expiresAt" });

  // Years ahead of the real clock: DynamoDB Local does delete items whose TTL has passed (in its own time), so an
  // expiry in the past made the items vanish between the write and the reads below (a flake).
  const clock = new FakeClock(Date.parse("2099-03-01T00:00:00Z"));
  const jobs = new DynamoJobStore({ client: table.client, tableName: table.tableName, clock });
  const done = plan(2);
  const running = plan(1, done.spec.pool);
  await jobs.createExport(done);
  const l = await jobs.claim({ pool: done.spec.pool, owner: "n1", leaseMs: 60_000 });
  assert.equal(l?.exportId, done.exportId);
  await jobs.checkpoint(l, chunk(l, ["5"]));
  await jobs.cancelExport(done.exportId);
  // Created after the claim: with both queued, the claim could take this export's partition instead (a flake).
  await jobs.createExport(running);

  const log: string[] = [];
  const ctx = {
    owner: "test",
    clock,
    cloud: new FakeCloudProvider({ clock, subnets: {}, spotPrices: {} }),
    fleet: new MemoryFleetStore({ clock }),
    jobs,
    templates: staticTemplateSource(""),
    finalize: async () => {},
    wake: () => {},
    log: (line: string) => log.push(line),
  };
  const off = controllerSettings.parse({ stateTable: table.tableName });
  await retention({ ...ctx, settings: off });
  assert.equal((await jobs.getExport(done.exportId))?.expiresAt, undefined, "no retention set: nothing expires");

  await retention({ ...ctx, settings: controllerSettings.parse({ stateTable: table.tableName, stateRetentionDays: 7 }) });
  const expiresAt = Date.parse("2099-03-08T00:00:00Z") / 1000;
  const expired = await jobs.getExport(done.exportId);
  assert.equal(expired?.expiresAt, expiresAt, `export in state ${expired?.state}; retention said: ${log.join(" | ")}`);
  assert.ok(
    log.some((x) => x.includes(done.exportId) && x.includes("2099-03-08T00:00:00.000Z")),
    log.join("\n"),
  );

  const get = async (pk: string, sk: string) =>
    (await table.client.send(new GetItemCommand({ TableName: table.tableName, Key: { pk: { S: pk }, sk: { S: sk } } }))).Item;
  for (const sk of [META, partitionSk(0), partitionSk(1)]) {
    assert.equal((await get(exportPk(done.exportId), sk))?.expiresAt?.N, String(expiresAt), `${sk} carries the TTL`);
  }
  const log0 = await table.client.send(
    new QueryCommand({
      TableName: table.tableName,
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": { S: partitionLogPk(done.exportId, l.partition) } },
    }),
  );
  assert.ok((log0.Items ?? []).length >= 3, "chunk and ledger items");
  for (const item of log0.Items ?? []) assert.equal(item.expiresAt?.N, String(expiresAt), `${item.sk?.S} carries the TTL`);
  assert.equal((await get(exportPk(running.exportId), META))?.expiresAt, undefined, "a RUNNING export keeps its items");
});
