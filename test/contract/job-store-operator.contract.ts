import assert from "node:assert/strict";
import { test } from "node:test";
import type { FakeClock } from "../../lib/clock.ts";
import { ExportStateError, type JobStore, NotFoundError, PartitionStateError } from "../../lib/jobs/job-store.ts";
import { plan } from "./job-store.contract.ts";

const LEASE = 30_000;

/** Operator actions (cancel, retry): part of the JobStore contract, run inside its describe block. */
export function operatorCases(get: () => { store: JobStore; clock: FakeClock }): void {
  test("cancel: PENDING partitions leave the queue, a holder releases parked, retry and re-cancel behave", async () => {
    const { store } = get();
    const p = plan(4);
    await store.createExport(p);
    const req = { pool: p.spec.pool, owner: "c1", leaseMs: LEASE };
    const held = await store.claim(req);
    assert.ok(held);
    const { export: cancelled, dequeued } = await store.cancelExport(p.exportId, { reason: "wrong filter" });
    assert.deepEqual([cancelled.state, cancelled.error, dequeued], ["CANCELLED", "cancelled: wrong filter", 3]);
    assert.equal(await store.claim(req), null, "nothing of a cancelled export is claimable");
    // The holder sees the cancel at its next chunk boundary and parks the partition: PENDING, cursor kept, unqueued.
    await store.release(held, { park: true, detail: "export is CANCELLED" });
    assert.equal(await store.claim(req), null);
    const rec = await store.getPartition(p.exportId, held.partition);
    assert.deepEqual([rec?.state, rec?.owner], ["PENDING", null]);
    // A release that had not seen the cancel queues the partition again; a second cancel takes it off again.
    const again = await store.cancelExport(p.exportId);
    assert.deepEqual([again.export.state, again.dequeued], ["CANCELLED", 0]);
    await assert.rejects(store.retryPartition(p.exportId, 0), PartitionStateError);
  });

  test("cancel refuses finished exports and unknown ids", async () => {
    const { store } = get();
    const p = plan(1);
    await store.createExport(p);
    await store.setExportState(p.exportId, { from: ["RUNNING"], to: "FINALIZING" });
    await assert.rejects(store.cancelExport(p.exportId), ExportStateError);
    await assert.rejects(store.cancelExport("no-such-export"), NotFoundError);
  });

  test("retry: only a QUARANTINED partition of a RUNNING export goes back to the queue, with a ledger event", async () => {
    const { store, clock } = get();
    const p = plan(2);
    await store.createExport(p);
    const req = { pool: p.spec.pool, owner: "r1", leaseMs: LEASE };
    const l = await store.claimPartition(p.exportId, 0, req);
    assert.ok(l);
    await store.fail(l, { error: "Deadlock found", maxAttempts: 1, backoffMs: 1000 });
    await assert.rejects(store.retryPartition(p.exportId, 1), (e) => e instanceof PartitionStateError && e.state === "PENDING");
    const retried = await store.retryPartition(p.exportId, 0, { by: "operator:alice" });
    assert.deepEqual([retried.state, retried.attempts, retried.lastError], ["PENDING", 0, "Deadlock found"]);
    await assert.rejects(store.retryPartition(p.exportId, 0), PartitionStateError, "a second retry is refused");
    await clock.advance(1);
    const next = await store.claimPartition(p.exportId, 0, req);
    assert.deepEqual([next?.epoch, next?.attempts], [2, 0]);
    const kinds = (await store.listEvents(p.exportId, 0)).items.map((e) => `${e.kind}:${e.node ?? ""}`);
    assert.deepEqual(kinds, ["claimed:r1", "quarantined:r1", "retried:operator:alice", "claimed:r1"]);
    // Quarantined again, then the export is cancelled: the retry is refused by the export's state.
    assert.ok(next);
    await store.fail(next, { error: "again", maxAttempts: 1, backoffMs: 1000 });
    await store.cancelExport(p.exportId);
    await assert.rejects(store.retryPartition(p.exportId, 0), (e) => e instanceof ExportStateError && e.state === "CANCELLED");
    await assert.rejects(store.retryPartition(p.exportId, 99), NotFoundError);
  });
}
