import assert from "node:assert/strict";
import { test } from "node:test";
import type { FakeClock } from "../../lib/clock.ts";
import { type JobStore, type Lease, LeaseLostError, NotFoundError } from "../../lib/jobs/job-store.ts";
import { chunk, plan } from "./job-store.contract.ts";

const LEASE = 30_000;
const SKEW = 10_000;
const CONTROLLER = "controller:host-1:42:ab12";

const fenceOf = (l: Lease) => ({ exportId: l.exportId, partition: l.partition, owner: l.owner, epoch: l.epoch });

/** The controller's revoke: part of the JobStore contract, run inside its describe block. */
export function revokeCases(get: () => { store: JobStore; clock: FakeClock }): void {
  test("revoke: fenced, back on the resume queue with its cursor, the holder fenced off, the controller in the ledger", async () => {
    const { store } = get();
    const p = plan(6);
    await store.createExport(p);
    const pool = p.spec.pool;
    let held = await store.claimPartition(p.exportId, 4, { pool, owner: "node-a", leaseMs: LEASE });
    assert.ok(held);
    held = await store.checkpoint(held, chunk(held, ["4100"]));
    const before = await store.getPartition(p.exportId, 4);
    const reason = { detail: "node node-a: spot interruption", by: CONTROLLER, interrupted: true };
    for (const stale of [
      { ...fenceOf(held), epoch: held.epoch + 1 },
      { ...fenceOf(held), epoch: held.epoch - 1 },
      { ...fenceOf(held), owner: "node-b" },
    ]) {
      assert.equal(await store.revoke(stale, reason), false, `stale fence ${JSON.stringify(stale)}`);
    }
    assert.deepEqual(await store.getPartition(p.exportId, 4), before, "a stale fence writes nothing");
    assert.equal((await store.listEvents(p.exportId, 4)).items.length, 2);

    assert.equal(await store.revoke(fenceOf(held), reason), true);
    const rec = await store.getPartition(p.exportId, 4);
    assert.deepEqual(
      [rec?.state, rec?.owner, rec?.leaseExpiresAt, rec?.epoch, rec?.cursor, rec?.chunks, rec?.rows],
      ["PENDING", null, null, held.epoch, ["4100"], 1, 10],
    );
    assert.equal(await store.revoke(fenceOf(held), reason), false, "a retry of an applied revoke writes nothing");

    const fenced: [string, () => Promise<unknown>][] = [
      ["heartbeat", () => store.heartbeat(held, LEASE)],
      ["checkpoint", () => store.checkpoint(held, chunk(held, ["4200"]))],
      ["release", () => store.release(held)],
      ["complete", () => store.complete(held)],
    ];
    for (const [op, write] of fenced) {
      await assert.rejects(write(), (err) => err instanceof LeaseLostError && err.current?.state === "PENDING", op);
    }
    assert.equal(await store.refresh(held), null);

    const next = await store.claim({ pool, owner: "node-c", leaseMs: LEASE });
    assert.deepEqual([next?.partition, next?.cursor, next?.chunks, next?.epoch], [4, ["4100"], 1, held.epoch + 1], "resumed first");
    const events = (await store.listEvents(p.exportId, 4)).items;
    assert.deepEqual(
      events.map((e) => `${e.kind}@${e.epoch}:${e.node}`),
      ["claimed@1:node-a", "checkpointed@1:node-a", `revoked@1:${CONTROLLER}`, "claimed@2:node-c"],
    );
    const revoked = events[2];
    assert.deepEqual([revoked?.formerOwner, revoked?.interrupted], ["node-a", true]);
    assert.ok(revoked?.detail?.includes("node-a") && revoked.detail.includes(reason.detail), revoked?.detail);
  });

  test("revoke: unknown partitions are NotFoundError; a released or reaped lease is not revoked; a race hands over once", async () => {
    const { store, clock } = get();
    const p = plan(3);
    await store.createExport(p);
    const pool = p.spec.pool;
    const by = { detail: "drain timeout 120 s", by: CONTROLLER };
    await assert.rejects(store.revoke({ exportId: p.exportId, partition: 99, owner: "x", epoch: 1 }, by), NotFoundError);

    const released = await store.claimPartition(p.exportId, 0, { pool, owner: "node-a", leaseMs: LEASE });
    assert.ok(released);
    await store.release(released);
    assert.equal(await store.revoke(fenceOf(released), by), false, "released first");

    const reaped = await store.claimPartition(p.exportId, 1, { pool, owner: "node-a", leaseMs: LEASE });
    assert.ok(reaped);
    await clock.advance(LEASE + SKEW + 1);
    await store.reapExpired({ skewMarginMs: SKEW });
    assert.equal(await store.revoke(fenceOf(reaped), by), false, "reaped first");

    const raced = await store.claimPartition(p.exportId, 2, { pool, owner: "node-a", leaseMs: LEASE });
    assert.ok(raced);
    const [rel, rev] = await Promise.allSettled([store.release(raced), store.revoke(fenceOf(raced), by)]);
    const revokedWon = rev.status === "fulfilled" && rev.value === true;
    assert.equal(rel.status === "fulfilled", !revokedWon, "exactly one of release and revoke took effect");
    if (revokedWon) assert.ok(rel.status === "rejected" && rel.reason instanceof LeaseLostError);
    const kinds = (await store.listEvents(p.exportId, 2)).items.map((e) => e.kind);
    assert.deepEqual(kinds, ["claimed", revokedWon ? "revoked" : "released"]);
    const last = (await store.listEvents(p.exportId, 2, { newestFirst: true, limit: 1 })).items[0];
    if (revokedWon) assert.deepEqual([last?.node, last?.formerOwner, last?.interrupted], [CONTROLLER, "node-a", undefined]);
  });
}
