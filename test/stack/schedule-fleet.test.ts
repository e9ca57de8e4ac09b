import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { runLocalAgents } from "../../controller/local/local-run.ts";
import type { ReconcileContext } from "../../controller/reconcilers/context.ts";
import { finalizing } from "../../controller/reconcilers/finalizing.ts";
import { tick } from "../../controller/schedule/scheduler.ts";
import { systemClock } from "../../lib/clock.ts";
import { type IncrementalFixture, incrementalFixture } from "../helpers/incremental-fixture.ts";

// Fleet mode: the fleet runs a schedule run's partitions, but the run is finalized by its schedule, behind the quality
// gate, so a rejected run never shows a manifest or a success marker, not even for a moment.

let fx: IncrementalFixture;
before(async () => {
  fx = await incrementalFixture();
  await fx.ordersTable("orders");
  await fx.insertOrders("orders", 1_000);
});
after(() => fx.cleanup());

const idMode = { mode: "id", column: "id", every: "5m" } as const;

async function objects(prefix: string): Promise<string[]> {
  const out = await fx.deps.s3.send(new ListObjectsV2Command({ Bucket: fx.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

/** The fleet's part: agents run the export's partitions to DONE (here as local processes; a pool would do the same). */
async function fleetRuns(exportId: string, pool: string) {
  const local = fx.deps.local!;
  const result = await runLocalAgents({
    ...local,
    store: fx.deps.jobs,
    clock: systemClock,
    exportId,
    pool,
    logDir: `${local.logDir}/fleet`,
  });
  assert.equal(result.done, true, result.reason);
}

test("a fleet-run schedule run is finalized by its schedule: the controller skips it and the quality gate decides first", async () => {
  const fleetDeps = { ...fx.deps, local: undefined };
  const strict = fx.spec("fleet", "orders", { incremental: idMode, quality: [{ rule: "null-rate", column: "note", max: 0.1 }] as never });
  const started = await tick(fleetDeps, strict);
  assert.equal(started.action, "started", started.message);
  const exportId = started.run!.exportId!;
  await fleetRuns(exportId, strict.pool);

  // The controller's finalizing pass leaves a schedule's run alone.
  const lines: string[] = [];
  const ctx = {
    jobs: fx.deps.jobs,
    log: (l: string) => lines.push(l),
    finalize: async () => assert.fail("the controller finalized a schedule run"),
  };
  await finalizing(ctx as unknown as ReconcileContext);
  assert.equal((await fx.deps.jobs.getExport(exportId))?.state, "RUNNING");
  assert.deepEqual(
    (await objects("lake/fleet/")).filter((k) => /manifest|_SUCCESS/.test(k)),
    [],
  );

  // 20 % of notes are NULL: the rule fails, so the run fails without a manifest ever being written.
  const rejected = await tick(fleetDeps, strict);
  assert.equal(rejected.action, "failed", rejected.message);
  assert.match(rejected.message, /null-rate failed/);
  assert.deepEqual(await objects("lake/fleet/"), [], "the rejected attempt left nothing behind");
  assert.equal((await fx.schedules.getSchedule("fleet"))!.watermark, null);

  // A lenient rule: the next attempt runs on the fleet again and commits.
  const lenient = fx.spec("fleet", "orders", { incremental: idMode, quality: [{ rule: "null-rate", column: "note", max: 0.5 }] as never });
  const retried = await tick(fleetDeps, lenient);
  assert.equal(retried.action, "started", retried.message);
  await fleetRuns(retried.run!.exportId!, lenient.pool);
  const committed = await tick(fleetDeps, lenient);
  assert.equal(committed.action, "committed", committed.message);
  assert.deepEqual([committed.run!.attempt, committed.run!.rows], [2, 1_000]);
  assert.ok((await objects("lake/fleet/")).some((k) => k.endsWith("_SUCCESS")));
});
