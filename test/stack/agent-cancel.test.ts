import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { runPartition } from "../../agent/partition-runner.ts";
import type { ExportRecord } from "../../config/records.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import { systemClock } from "../../lib/clock.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { openExportSource } from "../../lib/mysql/range-source.ts";
import { type ExportFixture, exportFixture } from "../helpers/export-fixture.ts";

// `spotferry cancel` while a partition runs: the agent stops at its next chunk boundary, keeps what it committed and
// parks the partition off the claim queue (real MariaDB, DynamoDB Local and the S3 store).

let fx: ExportFixture;
let record: ExportRecord;

before(async () => {
  fx = await exportFixture({ rows: 20_000, chunkRows: 2_000, targetRows: 20_000 });
  const conn = await openSource(fx.spec.source);
  try {
    const p = await planExport(fx.spec, { conn, clock: systemClock });
    record = (await fx.store.createExport(toNewExport(exportIdFor(fx.spec), fx.spec, p))).export;
  } finally {
    await conn.end();
  }
});
after(() => fx?.cleanup());

test("a partition of a cancelled export stops at its next chunk boundary and is parked", async () => {
  const lease = await fx.store.claim({ pool: fx.spec.pool, owner: "agent-1", leaseMs: 60_000 });
  assert.ok(lease);
  // The operator cancels right after the first chunk commits (as `spotferry cancel` would, from another process).
  let commits = 0;
  const store: JobStore = Object.create(fx.store, {
    checkpoint: {
      value: async (...args: Parameters<JobStore["checkpoint"]>) => {
        const l = await fx.store.checkpoint(...args);
        if (++commits === 1) await fx.store.cancelExport(record.exportId, { reason: "test" });
        return l;
      },
    },
  });
  const source = await openExportSource(record, systemClock);
  const logs: string[] = [];
  try {
    const outcome = await runPartition(
      {
        store,
        s3: fx.s3,
        clock: systemClock,
        exportRecord: record,
        source,
        leaseMs: 60_000,
        heartbeatMs: 5_000,
        stop: () => null,
        log: (l) => logs.push(l),
      },
      lease,
    );
    assert.equal(outcome, "released");
  } finally {
    await source.close();
  }
  assert.equal(commits, 1, "no chunk was written after the cancel");
  const p = await fx.store.getPartition(record.exportId, lease.partition);
  assert.deepEqual([p?.state, p?.owner, p?.chunks, p?.rows], ["PENDING", null, 1, 2_000]);
  assert.equal(await fx.store.claim({ pool: fx.spec.pool, owner: "agent-2", leaseMs: 60_000 }), null, "parked: off the claim queue");
  const events = (await fx.store.listEvents(record.exportId, lease.partition)).items;
  assert.deepEqual(
    events.map((e) => `${e.kind}${e.detail?.startsWith("export is") ? `:${e.detail}` : ""}`),
    ["claimed", "checkpointed", "released:export is CANCELLED"],
  );
  assert.ok(
    logs.some((l) => /export is CANCELLED; stopping after chunk 1/.test(l)),
    logs.join("\n"),
  );
});
