import assert from "node:assert/strict";
import { test } from "node:test";
import type { FakeClock } from "../../lib/clock.ts";
import { ExportStateError, type JobStore, NotFoundError } from "../../lib/jobs/job-store.ts";
import { chunk, plan } from "./job-store.contract.ts";

const LEASE = 30_000;

/** The spend-cap hold and retention (TTL): part of the JobStore contract, run inside its describe block. */
export function retentionCases(get: () => { store: JobStore; clock: FakeClock }): void {
  test("a cost hold is set and cleared on a RUNNING export only, with its figures", async () => {
    const { store } = get();
    const p = plan(2);
    await store.createExport(p);
    const hold = { spentUsd: 1.25, projectedUsd: 3.5, capUsd: 2, at: "2026-01-01T00:00:00.000Z" };
    const held = await store.setCostHold(p.exportId, hold);
    assert.deepEqual(held.costHold, hold);
    assert.deepEqual((await store.getExport(p.exportId))?.costHold, hold);
    assert.deepEqual((await store.setCostHold(p.exportId, hold)).costHold, hold, "idempotent");
    assert.equal((await store.setCostHold(p.exportId, null)).costHold, undefined);
    await store.cancelExport(p.exportId);
    await assert.rejects(store.setCostHold(p.exportId, hold), ExportStateError);
    await assert.rejects(store.setCostHold("no-such-export", hold), NotFoundError);
  });

  test("expiry is written on every item of a finished export only", async () => {
    const { store } = get();
    const p = plan(2);
    await store.createExport(p);
    const l = await store.claim({ pool: p.spec.pool, owner: "t", leaseMs: LEASE });
    assert.ok(l);
    const l1 = await store.checkpoint(l, chunk(l, ["1"]));
    await store.complete(l1);
    await assert.rejects(store.expireExport(p.exportId, 1_900_000_000), ExportStateError, "RUNNING exports keep their items");
    await store.cancelExport(p.exportId);
    // Record + 2 partitions + 1 chunk + the ledger of partition l (claimed, checkpointed, completed).
    const events = (await store.listEvents(p.exportId, l.partition)).items.length;
    const { items } = await store.expireExport(p.exportId, 1_900_000_000);
    assert.equal(items, 1 + 2 + 1 + events);
    assert.equal((await store.getExport(p.exportId))?.expiresAt, 1_900_000_000);
    await assert.rejects(store.expireExport("no-such-export", 1), NotFoundError);
  });
}
