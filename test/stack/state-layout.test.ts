import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { DeleteItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { FakeClock } from "../../lib/clock.ts";
import { LAYOUT_PK, META } from "../../lib/dynamo/keys.ts";
import { checkLayout, STATE_LAYOUT } from "../../lib/dynamo/layout.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { chunk, plan } from "../contract/job-store.contract.ts";
import { cli } from "../helpers/snapshot.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

// The state table's layout version: an older table is migrated with an export in flight, a newer one is refused by
// every kind of process with one line and the upgrade path.

let t: Awaited<ReturnType<typeof tempStateTable>>;
before(async () => {
  t = await tempStateTable("layout");
});
after(async () => t?.drop());

const layoutKey = { pk: { S: LAYOUT_PK }, sk: { S: META } };

test("a table of the unversioned layout is migrated with an export in flight, and its lease carries on", async () => {
  const clock = new FakeClock();
  // What a release before the layout version left: the same items, no layout item.
  await t.client.send(new DeleteItemCommand({ TableName: t.tableName, Key: layoutKey }));
  const store = new DynamoJobStore({ client: t.client, tableName: t.tableName, clock });
  const p = plan(2);
  await store.createExport(p);
  let lease = await store.claim({ pool: p.spec.pool, owner: "old-agent", leaseMs: 60_000 });
  assert.ok(lease);
  lease = await store.checkpoint(lease, chunk(lease, [String(Number(lease.lo?.[0] ?? 0) + 5)]));

  const deps = { client: t.client, tableName: t.tableName, clock };
  assert.equal(await checkLayout({ ...deps, migrate: false }), 0, "readers leave an older table as it is");
  // Two controllers start at once: one migrates, the other sees the result.
  assert.deepEqual(await Promise.all([checkLayout({ ...deps, migrate: true }), checkLayout({ ...deps, migrate: true })]), [
    STATE_LAYOUT,
    STATE_LAYOUT,
  ]);

  lease = await store.checkpoint(lease, chunk(lease, [String(Number(lease.lo?.[0] ?? 0) + 9)]));
  await store.complete(lease);
  assert.equal((await store.getPartition(p.exportId, lease.partition))?.state, "DONE");
});

test("a newer layout is refused by the CLI, the agent and the controller, with the upgrade path, exit 3", async () => {
  await t.client.send(
    new PutItemCommand({
      TableName: t.tableName,
      Item: { ...layoutKey, type: { S: "LAYOUT" }, version: { N: "99" }, writtenBy: { S: "9.9.9" } },
    }),
  );
  const env = { SPOTFERRY_STATE_TABLE: t.tableName };
  const userData = join(mkdtempSync(join(tmpdir(), "spotferry-layout-")), "user-data.sh");
  writeFileSync(userData, "#!/bin/bash\necho node\n");
  const runs = [
    await cli(["status"], env),
    await cli(["agent", "run", "--pool", "p-layout", "--node-id", "n-1", "--state-table", t.tableName, "--no-imds"], env),
    // Its input must be valid first (nothing is read or written before that): a user-data file instead of a bundle.
    await cli(["controller", "run", "--once", "--state-table", t.tableName, "--user-data", userData], env),
  ];
  rmSync(dirname(userData), { recursive: true, force: true });
  for (const r of runs) {
    assert.equal(r.code, 3, r.stderr);
    assert.match(
      r.stderr,
      /^error: state table \S+ has layout 99 \(written by spotferry 9\.9\.9\); this spotferry \S+ knows layouts up to 1: upgrade/,
    );
    assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
  }
});
