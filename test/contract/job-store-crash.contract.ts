import assert from "node:assert/strict";
import { test } from "node:test";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { KeyColumn, SourceKey } from "../../config/records.ts";
import type { FakeClock } from "../../lib/clock.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { type JobStoreHarness, plan } from "./job-store.contract.ts";

/**
 * A create that crashed after writing the export header (PLANNING, not queued, plan hash "old") and the unqueued
 * partitions of that older plan (PENDING, epoch 0, plan hash "old"), at time `at`.
 */
export interface CrashedCreate {
  exportId: string;
  spec: ExportSpec;
  keyColumns: KeyColumn[];
  partitions: { lo: SourceKey; hi: SourceKey; estimatedRows: number }[];
  at: string;
}

/** Recovery from a create that crashed half way: part of the JobStore contract, for harnesses that can seed one. */
export function crashCases(get: () => { store: JobStore; clock: FakeClock; harness: JobStoreHarness }): void {
  test("a PLANNING export left with another plan is replaced, leftovers deleted, nothing claimable before the commit", async (t) => {
    const { store, clock, harness } = get();
    if (!harness.seedCrashedCreate) {
      t.skip("the harness cannot write a half-written create (no seedCrashedCreate)");
      return;
    }
    const p = plan(3);
    const old = Array.from({ length: 6 }, (_, n) => ({ lo: [String(n)], hi: [String(n + 1)], estimatedRows: 1 }));
    const at = new Date(clock.now()).toISOString();
    await harness.seedCrashedCreate({ exportId: p.exportId, spec: p.spec, keyColumns: p.keyColumns, partitions: old, at });
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
}
