import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { RunInstancesCommand } from "@aws-sdk/client-ec2";
import { Agent } from "../../agent/agent.ts";
import { Imds } from "../../agent/imds.ts";
import type { ExportRecord } from "../../config/records.ts";
import { agentSettings } from "../../config/settings.ts";
import { finalizeExport, readManifest } from "../../controller/finalize/finalize.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import { verifyExport } from "../../controller/verify/verify.ts";
import { systemClock } from "../../lib/clock.ts";
import { LeaseLostError } from "../../lib/jobs/job-store.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { openExportSource } from "../../lib/mysql/range-source.ts";
import { chunkKey, exportPrefix, startChunkUpload } from "../../lib/output/sink.ts";
import { type ExportFixture, exportFixture } from "../helpers/export-fixture.ts";
import { testSim, waitFor } from "../helpers/sim.ts";

// The agent's fault paths with real MariaDB, DynamoDB Local, the S3 store and the sim's IMDSv2.

let fx: ExportFixture;
let record: ExportRecord;

async function plan(): Promise<ExportRecord> {
  const conn = await openSource(fx.spec.source);
  try {
    const p = await planExport(fx.spec, { conn, clock: systemClock });
    return (await fx.store.createExport(toNewExport(exportIdFor(fx.spec), fx.spec, p))).export;
  } finally {
    await conn.end();
  }
}

const settings = (nodeId: string, extra: Record<string, unknown> = {}) => ({
  ...agentSettings.parse({
    pool: fx.spec.pool,
    stateTable: fx.tableName,
    idleExitAfter: 1,
    heartbeatInterval: 1,
    imdsPollInterval: 0.2,
    ...extra,
  }),
  nodeId,
});

async function finalizeAndVerify() {
  const source = await openExportSource(record, systemClock);
  try {
    const fin = await finalizeExport({ store: fx.store, s3: fx.s3, clock: systemClock, schema: () => source.columns() }, record.exportId);
    const manifest = await readManifest(fx.s3, fx.bucket, fin.manifestKey);
    const report = await verifyExport({ s3: fx.s3, conn: fx.conn }, manifest);
    return { fin, manifest, report };
  } finally {
    await source.close();
  }
}

describe("agent faults", { concurrency: false }, () => {
  before(async () => {
    fx = await exportFixture({ rows: 60_000, chunkRows: 5_000, targetRows: 20_000 });
    record = await plan();
  });
  after(() => fx.cleanup());

  test("a source connection killed mid-stream is re-issued from the last key read, without loss or repeats", async () => {
    const source = await openExportSource(record, systemClock);
    try {
      const reader = source.read({ lo: null, hi: null, cursor: null, highWatermark: record.highWatermark }, { batchRows: 1000 });
      const seen: bigint[] = [];
      const first = await reader.next();
      for (const r of first ?? []) seen.push(BigInt(source.keyOf(r)[0]!));
      const [procs] = await fx.conn.query(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT%call_log%' AND ID <> CONNECTION_ID()",
        [fx.database],
      );
      const ids = (procs as { ID: number }[]).map((p) => p.ID);
      assert.equal(ids.length, 1, "one streaming query");
      await fx.conn.query(`KILL CONNECTION ${Number(ids[0])}`);
      for (let b = await reader.next(); b; b = await reader.next()) for (const r of b) seen.push(BigInt(source.keyOf(r)[0]!));
      assert.equal(seen.length, 60_000);
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `keys strictly increasing at ${i}`);
    } finally {
      await source.close();
    }
  });

  test("a fenced zombie's late chunk never enters the manifest, and another agent finishes its partition", async () => {
    // The zombie stalls (a long GC pause, a frozen VM) past its lease; the reaper hands its partition back.
    const zombieStore = fx.store;
    const zombie = await zombieStore.claim({ pool: fx.spec.pool, owner: "zombie", leaseMs: 1 });
    assert.ok(zombie);
    await new Promise((r) => setTimeout(r, 20));
    const reaped = await fx.store.reapExpired({ skewMarginMs: 0 });
    assert.ok(reaped.some((r) => r.partition === zombie.partition && r.owner === "zombie"));

    const summary = await new Agent({ store: fx.store, s3: fx.s3, clock: systemClock, settings: settings("healthy"), log: () => {} }).run();
    assert.equal(summary.outcomes.completed, record.partitionCount);

    // Only now does the zombie wake up: its upload lands in S3, its checkpoint is refused.
    const key = chunkKey(exportPrefix(fx.spec.destination.prefix, record.exportId), zombie.partition, 1, zombie.epoch, ".ndjson.gz");
    const { Readable } = await import("node:stream");
    const late = startChunkUpload(fx.s3, key, Readable.from([Buffer.from('{"id":"1"}\n')]), "application/x-ndjson", { bucket: fx.bucket });
    const uploaded = await late.done();
    await assert.rejects(
      zombieStore.checkpoint(zombie, {
        seq: 1,
        objectKey: key,
        rows: 1,
        bytes: uploaded.bytes,
        sha256: uploaded.sha256,
        firstKey: ["1"],
        lastKey: ["1"],
      }),
      LeaseLostError,
    );
    await assert.rejects(zombieStore.complete(zombie), LeaseLostError);

    const { fin, manifest, report } = await finalizeAndVerify();
    assert.ok(!manifest.partitions.some((p) => p.chunks.some((c) => c.key === key)), "the zombie's object is not in the manifest");
    assert.ok(fin.orphansDeleted >= 1, "the zombie's object was removed as an orphan");
    assert.deepEqual([report.missing, report.duplicated, report.mismatched.length], [0, 0, 0]);
    assert.equal(report.rows, 60_000);
  });
  test("a source that cannot be opened is retried with backoff, then quarantined with its reason", async () => {
    const conn = await openSource(fx.spec.source);
    const p = await planExport(fx.spec, { conn, clock: systemClock });
    await conn.end();
    process.env.SPOTFERRY_TEST_WRONG_PASSWORD = "not-the-password";
    const bad = structuredClone(fx.spec);
    bad.name = `${fx.spec.name.slice(0, 50)}-bad`;
    bad.pool = `${fx.spec.pool}-bad`;
    bad.source.password = { env: "SPOTFERRY_TEST_WRONG_PASSWORD" };
    bad.retry = { maxAttempts: 2, backoff: 0 };
    const created = await fx.store.createExport(toNewExport(exportIdFor(bad), bad, p));
    const agent = new Agent({
      store: fx.store,
      s3: fx.s3,
      clock: systemClock,
      settings: { ...settings("unlucky"), pool: bad.pool },
      log: () => {},
    });
    const summary = await agent.run();
    assert.equal(summary.outcomes.completed, 0);
    const progress = await fx.store.progress(created.export.exportId);
    assert.equal(progress.byState.QUARANTINED.partitions, progress.total.partitions, "every partition quarantined");
    const first = await fx.store.getPartition(created.export.exportId, 0);
    assert.equal(first?.attempts, 2);
    assert.match(first?.lastError ?? "", /opening the source .*Access denied/);
  });
});

describe("interruption notice", { concurrency: false }, () => {
  before(async () => {
    fx = await exportFixture({ rows: 40_000, chunkRows: 2_000, targetRows: 40_000 });
    // Throttle the source so the notice arrives mid-partition.
    fx.spec.source.maxRowsPerSecond = 8_000;
    const conn = await openSource(fx.spec.source);
    const p = await planExport(fx.spec, { conn, clock: systemClock });
    await conn.end();
    record = (await fx.store.createExport(toNewExport(exportIdFor(fx.spec), fx.spec, p))).export;
  });
  after(() => fx.cleanup());

  test("an IMDS spot notice mid-partition cuts the chunk, commits it and releases at once; the next owner resumes", async (t) => {
    const { sim, ec2 } = await testSim(t, { timeScale: 1 });
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: "ami-12345678",
        InstanceType: "m5.large",
        MinCount: 1,
        MaxCount: 1,
        InstanceMarketOptions: { MarketType: "spot" },
        UserData: Buffer.from("#!/bin/bash\nsleep 600\n").toString("base64"),
      }),
    );
    const id = run.Instances![0]!.InstanceId!;
    const imdsUrl = await waitFor(
      "the instance's IMDS endpoint",
      async () => {
        const list = (await (await fetch(`${sim.url}/_sim/instances`)).json()) as { id?: string; instanceId?: string; imds?: string }[];
        return list.find((i) => (i.id ?? i.instanceId) === id)?.imds;
      },
      10_000,
    );
    const agent = new Agent({
      store: fx.store,
      s3: fx.s3,
      clock: systemClock,
      settings: settings(id),
      imds: new Imds(imdsUrl, systemClock),
      log: () => {},
    });
    const running = agent.run();
    // Wait for the first committed chunk, then interrupt.
    await waitFor(
      "the first committed chunk",
      async () => ((await fx.store.getPartition(record.exportId, 0))?.chunks ?? 0) >= 1 || undefined,
      20_000,
    );
    const res = await fetch(`${sim.url}/_sim/instances/${id}/interrupt`, { method: "POST", body: JSON.stringify({ noticeSeconds: 120 }) });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const { terminateAt } = JSON.parse(body) as { terminateAt: string };
    const summary = await running;
    assert.equal(summary.outcomes.released, 1);
    assert.match(summary.stoppedBy, /spot terminate notice/);
    const p = await fx.store.getPartition(record.exportId, 0);
    assert.equal(p?.state, "PENDING");
    assert.ok(p!.rows > 0 && p!.rows < 40_000, "part of the partition was committed");

    // Released by its own agent because of the notice, under the lease it claimed (not reaped, not taken over), and
    // while the sim still had the instance running: inside the notice, in the sim's own terms.
    const events = (await fx.store.listEvents(record.exportId, 0)).items;
    const claimed = events.find((e) => e.kind === "claimed" && e.node === id);
    const interrupted = events.find((e) => e.kind === "interrupted");
    assert.ok(claimed && interrupted, events.map((e) => `${e.kind} by ${e.node}`).join(", "));
    assert.deepEqual([interrupted.node, interrupted.epoch], [id, claimed.epoch], "the notified agent released its own lease");
    assert.ok(!events.some((e) => e.kind === "reaped" || e.kind === "released"), "no other hand-over");
    assert.ok(Date.parse(interrupted.at) < Date.parse(terminateAt), `released at ${interrupted.at}, notice ends ${terminateAt}`);
    const instances = (await (await fetch(`${sim.url}/_sim/instances`)).json()) as { instanceId: string; state: string }[];
    const state = instances.find((i) => i.instanceId === id)?.state;
    assert.ok(state === "pending" || state === "running", `the sim has not terminated the instance yet (${state})`);

    const rest = await new Agent({ store: fx.store, s3: fx.s3, clock: systemClock, settings: settings("next"), log: () => {} }).run();
    assert.equal(rest.outcomes.completed, 1);
    const { fin, report } = await finalizeAndVerify();
    assert.equal(fin.orphansDeleted, 0, "the cut chunk was committed, so no chunk was redone");
    assert.deepEqual([report.missing, report.duplicated, report.mismatched.length], [0, 0, 0]);
  });
});
