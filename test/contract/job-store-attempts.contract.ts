import assert from "node:assert/strict";
import { test } from "node:test";
import type { FakeClock } from "../../lib/clock.ts";
import type { JobStore, Lease } from "../../lib/jobs/job-store.ts";
import { chunk, plan, specFor } from "./job-store.contract.ts";

const LEASE = 30_000;
const SKEW = 10_000;
const fenceOf = (l: Lease) => ({ exportId: l.exportId, partition: l.partition, owner: l.owner, epoch: l.epoch });

/**
 * Attempts of holders that never report: a partition that kills (or hangs) its agent each time must end quarantined,
 * so the claim after a silent end counts it. Part of the JobStore contract, run inside its describe block.
 */
export function attemptCases(get: () => { store: JobStore; clock: FakeClock }): void {
  test("a lease reaped or revoked with no progress and no report counts at the next claim; blameless or progressed ones do not", async () => {
    const { store, clock } = get();
    const p = plan(1);
    await store.createExport(p);
    const req = (owner: string) => ({ pool: p.spec.pool, owner, leaseMs: LEASE });

    // Dies right after its claim: reaped, and the next claim counts the attempt, with the reason in lastError.
    const dead = await store.claim(req("dies"));
    assert.ok(dead);
    assert.equal(dead.crashCounted, undefined, "a first claim counts nothing");
    await clock.advance(LEASE + SKEW + 1);
    const reaped = await store.reapExpired({ skewMarginMs: SKEW });
    assert.deepEqual(
      reaped.filter((r) => r.exportId === p.exportId).map((r) => r.owner),
      ["dies"],
    );
    const second = await store.claim(req("second"));
    assert.ok(second);
    assert.equal(second.attempts, 1);
    assert.match(second.crashCounted ?? "", /lease of dies at epoch 1 ended with no progress and no report/);
    const rec = await store.getPartition(p.exportId, 0);
    assert.deepEqual([rec?.attempts, rec?.lastError], [1, second.crashCounted]);
    const claimed = (await store.listEvents(p.exportId, 0, { newestFirst: true, limit: 1 })).items[0];
    assert.deepEqual([claimed?.kind, claimed?.epoch], ["claimed", 2]);
    assert.match(claimed?.detail ?? "", /^counted as attempt 1: /);

    // Dies too, revoked by the controller as a dead node: counted again.
    assert.equal(await store.revoke(fenceOf(second), { detail: "node second: exit code 1", by: "ctl", interrupted: true }), true);
    const third = await store.claim(req("third"));
    assert.deepEqual([third?.attempts, third?.crashCounted !== undefined], [2, true]);
    assert.ok(third);

    // Taken away blamelessly (a spot reclaim): not counted.
    assert.equal(await store.revoke(fenceOf(third), { detail: "spot", by: "ctl", interrupted: true, blameless: true }), true);
    const fourth = await store.claim(req("fourth"));
    assert.deepEqual([fourth?.attempts, fourth?.crashCounted], [2, undefined]);
    assert.ok(fourth);

    // A holder that committed a chunk before it died made progress: not counted, and the count starts again.
    const moved = await store.checkpoint(fourth, chunk(fourth, ["10"]), { leaseMs: LEASE });
    assert.equal(moved.attempts, 0, "attempts count failures since the last progress");
    await clock.advance(LEASE + SKEW + 1);
    await store.reapExpired({ skewMarginMs: SKEW });
    const fifth = await store.claim(req("fifth"));
    assert.deepEqual([fifth?.attempts, fifth?.crashCounted, fifth?.cursor], [0, undefined, moved.cursor]);
    assert.ok(fifth);

    // A holder that reported (release) is not counted either; one that dies without progress is, from 0.
    await store.release(fifth);
    const sixth = await store.claim(req("sixth"));
    assert.deepEqual([sixth?.attempts, sixth?.crashCounted], [0, undefined]);
    assert.ok(sixth);
    await clock.advance(LEASE + SKEW + 1);
    await store.reapExpired({ skewMarginMs: SKEW });
    const seventh = await store.claim(req("seventh"));
    assert.equal(seventh?.attempts, 1);
  });

  test("a failure the claim already counted quarantines at the maximum without counting twice", async () => {
    const { store, clock } = get();
    const p = plan(1);
    await store.createExport(p);
    const req = (owner: string) => ({ pool: p.spec.pool, owner, leaseMs: LEASE });
    const first = await store.claim(req("a"));
    assert.ok(first);
    const failed = await store.fail(first, { error: "boom", maxAttempts: 2, backoffMs: 1000 });
    assert.deepEqual([failed.state, failed.attempts], ["PENDING", 1]);
    await clock.advance(1000);
    const second = await store.claim(req("b"));
    assert.ok(second);
    await clock.advance(LEASE + SKEW + 1);
    await store.reapExpired({ skewMarginMs: SKEW });
    const third = await store.claim(req("c"));
    assert.ok(third?.crashCounted);
    assert.equal(third.attempts, 2);
    const q = await store.fail(third, { error: third.crashCounted, maxAttempts: 2, backoffMs: 1000, alreadyCounted: true });
    assert.deepEqual([q.state, q.attempts, q.lastError], ["QUARANTINED", 2, third.crashCounted]);
    const events = (await store.listEvents(p.exportId, 0)).items.map((e) => e.kind);
    assert.deepEqual(events, ["claimed", "failed", "claimed", "reaped", "claimed", "quarantined"]);
    // Retried by an operator: attempts from 0, and nothing counted for the quarantining holder (it reported).
    await store.retryPartition(p.exportId, 0, { by: "op" });
    const again = await store.claim(req("d"));
    assert.deepEqual([again?.attempts, again?.crashCounted], [0, undefined]);
  });

  test("retryPolicy reads the stored spec's policy, null for an unknown export", async () => {
    const { store } = get();
    const p = plan(1);
    await store.createExport({ ...p, spec: specFor(p.exportId, p.spec.pool, { retry: { maxAttempts: 3, backoff: "2s" } }) });
    assert.deepEqual(await store.retryPolicy(p.exportId), { maxAttempts: 3, backoffMs: 2000 });
    const d = plan(1);
    await store.createExport(d);
    assert.deepEqual(await store.retryPolicy(d.exportId), { maxAttempts: 5, backoffMs: 30_000 });
    assert.equal(await store.retryPolicy("no-such-export"), null);
  });
}
