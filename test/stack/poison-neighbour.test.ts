import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Agent } from "../../agent/agent.ts";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { ExportRecord } from "../../config/records.ts";
import { agentSettings } from "../../config/settings.ts";
import { finalizeExport, readManifest } from "../../controller/finalize/finalize.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import { verifyExport } from "../../controller/verify/verify.ts";
import { systemClock } from "../../lib/clock.ts";
import { conditionalUpdate, dynamoContext } from "../../lib/dynamo/access.ts";
import { exportPk, META } from "../../lib/dynamo/keys.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { openExportSource } from "../../lib/mysql/range-source.ts";
import { type ExportFixture, exportFixture } from "../helpers/export-fixture.ts";
import { waitFor } from "../helpers/wait.ts";

// Issue 14: a partition whose record the agents cannot decode (`chunk.maxBytes: 0` from an older planner) crashed
// every agent's claim loop and held its lease until expiry, so a good export sharing the pool starved. Now each
// failure is an attempt of the poisoned partition (backoff 1 s, 2 s; quarantined at the third) and the good export,
// planned in the same pool, finishes and verifies.

let fx: ExportFixture;

async function plan(spec: ExportSpec): Promise<ExportRecord> {
  const conn = await openSource(spec.source);
  try {
    const p = await planExport(spec, { conn, clock: systemClock });
    return (await fx.store.createExport(toNewExport(exportIdFor(spec), spec, p))).export;
  } finally {
    await conn.end();
  }
}

before(async () => {
  fx = await exportFixture({ rows: 30_000, chunkRows: 5_000, targetRows: 10_000 });
});
after(() => fx.cleanup());

test("a good export sharing the pool with a poisoned one SUCCEEDS while the poisoned partitions end QUARANTINED", async () => {
  const good = await plan(fx.spec);
  const poisoned = await plan({ ...fx.spec, name: `${fx.spec.name}-poisoned`.slice(0, 60) });
  const ctx = dynamoContext({ client: fx.ddb, tableName: fx.tableName, clock: systemClock });
  await conditionalUpdate(
    ctx,
    {
      Key: { pk: exportPk(poisoned.exportId), sk: META },
      UpdateExpression: "SET #sp.#de.#ch.maxBytes = :zero",
      ExpressionAttributeNames: { "#sp": "spec", "#de": "destination", "#ch": "chunk" },
      ExpressionAttributeValues: { ":zero": 0 },
    },
    "poisoning the export record as an older planner could have written it",
  );
  await assert.rejects(fx.store.getExport(poisoned.exportId), "the poisoned record no longer decodes");

  const agents = ["a1", "a2"].map(
    (nodeId) =>
      new Agent({
        store: fx.store,
        s3: fx.s3,
        clock: systemClock,
        settings: {
          ...agentSettings.parse({ pool: fx.spec.pool, stateTable: fx.tableName, idleExitAfter: 3600, heartbeatInterval: 1 }),
          nodeId,
        },
        log: () => {},
      }),
  );
  const runs = agents.map((a) => a.run());
  const partitions = async (id: string) => (await fx.store.listPartitions(id)).items;
  await waitFor(
    "the good export DONE and the poisoned one QUARANTINED",
    async () => {
      const g = await partitions(good.exportId);
      const p = await partitions(poisoned.exportId);
      return g.every((x) => x.state === "DONE") && p.every((x) => x.state === "QUARANTINED") ? true : undefined;
    },
    120_000,
  );
  for (const a of agents) a.drain({ mode: "now", interrupted: false, reason: "test over" });
  await Promise.all(runs);

  for (const x of await partitions(poisoned.exportId)) {
    assert.equal(x.attempts, 3, "the poisoned export's own retry policy, read from its undecodable record");
    assert.match(x.lastError ?? "", /^reading the record of export .*maxBytes/);
  }
  const source = await openExportSource(good, systemClock);
  try {
    const fin = await finalizeExport({ store: fx.store, s3: fx.s3, clock: systemClock, schema: () => source.columns() }, good.exportId);
    assert.equal((await fx.store.getExport(good.exportId))?.state, "SUCCEEDED");
    const report = await verifyExport({ s3: fx.s3, conn: fx.conn }, await readManifest(fx.s3, fx.bucket, fin.manifestKey));
    assert.deepEqual([report.rows, report.missing, report.duplicated, report.mismatched.length], [30_000, 0, 0, 0]);
  } finally {
    await source.close();
  }
});
