import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { type PoolSpec, poolSpec } from "../../config/pool-spec.ts";
import { type NodeRecord, nodeRecord } from "../../config/records.ts";
import type { FleetStore } from "../../controller/store/fleet-store.ts";
import { type Clock, FakeClock } from "../../lib/clock.ts";

/**
 * The FleetStore contract (controller/store/fleet-store.ts): every backend runs these cases. `openBackend` gives a
 * store of its own over empty state for each test, so no case sees another's pools, nodes or leader lease, and
 * each moves its own FakeClock.
 */
export interface FleetStoreBackend {
  store: FleetStore;
  close(): Promise<void>;
}

const iso = (clock: Clock) => new Date(clock.now()).toISOString();

export function poolFor(name: string, capacity: { min: number; max: number } = { min: 1, max: 4 }): PoolSpec {
  return poolSpec.parse({ kind: "Pool", name, instanceTypes: ["m6i.large"], subnets: ["subnet-0a1b"], imageId: "ami-0abc", capacity });
}

export function nodeFor(pool: string, instanceId: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return nodeRecord.parse({
    ...{ pool, instanceId, generation: 1, lifecycle: "LAUNCHING", instanceType: "m6i.large", zone: "us-east-1a" },
    ...{ market: "spot", price: 0.0312, launchedAt: "2026-01-01T00:00:00.000Z", heartbeatAt: null, currentPartition: null },
    ...{ hostKeyFingerprint: null, terminatedAt: null, reason: null },
    ...extra,
  });
}

export function fleetStoreContract(name: string, openBackend: (options: { clock: Clock }) => Promise<FleetStoreBackend>): void {
  async function open(t: TestContext) {
    const clock = new FakeClock();
    const backend = await openBackend({ clock });
    t.after(() => backend.close());
    return { store: backend.store, clock };
  }

  describe(`FleetStore contract: ${name}`, () => {
    test("applyPool creates at generation 1 with desired size = min, then replaces only the spec", async (t) => {
      const { store, clock } = await open(t);
      const first = await store.applyPool(poolFor("etl", { min: 2, max: 4 }));
      assert.equal(first.created, true);
      assert.deepEqual(
        { ...first.record, spec: undefined },
        {
          ...{ pool: "etl", spec: undefined, generation: 1, desiredSize: 2, updatedAt: iso(clock), version: 0 },
          ...{ capacityErrors: {}, spotShortSince: null, template: null, rotateRequestedAt: null },
          ...{ interruptions: 0, replacements: 0, owedReplacements: 0 },
        },
      );
      assert.deepEqual(first.record.spec, poolFor("etl", { min: 2, max: 4 }));
      assert.deepEqual(await store.getPool("etl"), first.record);

      // The controller's own state: what a re-apply must keep.
      const moved = await store.updatePool("etl", 0, { desiredSize: 3, capacityErrors: { "spot|m6i.large|a": "2026-01-02T00:00:00Z" } });
      await store.addPoolCounters("etl", { interruptions: 2, owedReplacements: 1 });
      const bumped = await store.bumpGeneration("etl");
      assert.ok(moved && bumped.generation === 2);

      await clock.advance(5_000);
      const wider = poolFor("etl", { min: 5, max: 9 });
      const again = await store.applyPool(wider);
      assert.equal(again.created, false);
      assert.deepEqual(again.record, { ...bumped, spec: wider, version: bumped.version + 1, updatedAt: iso(clock) });
      assert.equal(again.record.desiredSize, 3, "a new capacity.min does not move desiredSize");
      assert.deepEqual(await store.getPool("etl"), again.record);

      // Idempotent in effect, yet a write: the version moves even for the same spec.
      const same = await store.applyPool(wider);
      assert.deepEqual([same.created, same.record.version], [false, again.record.version + 1]);
      assert.deepEqual({ ...same.record, version: 0 }, { ...again.record, version: 0 });
    });

    test("getPool of an unknown pool is null; listPools lists every pool by name", async (t) => {
      const { store } = await open(t);
      assert.equal(await store.getPool("nope"), null);
      assert.deepEqual(await store.listPools(), []);
      for (const n of ["m-pool", "b-pool", "z-pool", "a-pool"]) await store.applyPool(poolFor(n));
      const pools = await store.listPools();
      assert.deepEqual(
        pools.map((p) => p.pool),
        ["a-pool", "b-pool", "m-pool", "z-pool"],
      );
      assert.deepEqual(pools[0], await store.getPool("a-pool"));
    });

    test("updatePool is version-checked: a stale or unknown version is null and writes nothing", async (t) => {
      const { store, clock } = await open(t);
      await store.applyPool(poolFor("etl"));
      await clock.advance(1_000);
      const v1 = await store.updatePool("etl", 0, { desiredSize: 4, spotShortSince: iso(clock), owedReplacements: 2 });
      assert.ok(v1);
      assert.deepEqual(
        [v1.version, v1.desiredSize, v1.spotShortSince, v1.owedReplacements, v1.updatedAt],
        [1, 4, iso(clock), 2, iso(clock)],
      );
      assert.equal(await store.updatePool("etl", 0, { desiredSize: 9 }), null, "stale version");
      assert.equal(await store.updatePool("etl", 7, { desiredSize: 9 }), null, "a version from the future");
      assert.equal(await store.updatePool("gone", 0, { desiredSize: 9 }), null, "unknown pool");
      assert.deepEqual(await store.getPool("etl"), v1);

      // Undefined is skipped, null is written; the spec goes through the same check (`spotferry scale`).
      const scaled = poolFor("etl", { min: 0, max: 12 });
      const v2 = await store.updatePool("etl", 1, { desiredSize: undefined, spotShortSince: null, spec: scaled });
      assert.deepEqual(v2, { ...v1, version: 2, spotShortSince: null, spec: scaled });
      await clock.advance(1_000);
      const v3 = await store.updatePool("etl", 2, {});
      assert.deepEqual(v3, { ...v2, version: 3, updatedAt: iso(clock) }, "an empty change still bumps version and updatedAt");
    });

    test("concurrent versioned updates of one pool: exactly one wins", async (t) => {
      const { store } = await open(t);
      await store.applyPool(poolFor("etl"));
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => store.updatePool("etl", 0, { desiredSize: i })));
      const winners = results.filter((r) => r !== null);
      assert.equal(winners.length, 1);
      assert.deepEqual(await store.getPool("etl"), winners[0]);
    });

    test("bumpGeneration rotates unconditionally; a versioned update from before it is null; unknown pool throws", async (t) => {
      const { store, clock } = await open(t);
      await store.applyPool(poolFor("etl"));
      const read = await store.updatePool("etl", 0, { desiredSize: 2 });
      assert.ok(read);
      await clock.advance(60_000);
      const bumped = await store.bumpGeneration("etl");
      assert.deepEqual(bumped, { ...read, generation: 2, version: 2, rotateRequestedAt: iso(clock), updatedAt: iso(clock) });
      assert.equal(await store.updatePool("etl", read.version, { desiredSize: 3 }), null);
      assert.equal((await store.bumpGeneration("etl")).generation, 3);
      await assert.rejects(store.bumpGeneration("gone"), /no such pool/);
      assert.equal(await store.getPool("gone"), null);
    });

    test("addPoolCounters adds atomically without touching version or updatedAt", async (t) => {
      const { store, clock } = await open(t);
      const { record } = await store.applyPool(poolFor("etl"));
      await clock.advance(1_000);
      await store.addPoolCounters("etl", { interruptions: 2, replacements: 1, owedReplacements: 3 });
      await store.addPoolCounters("etl", { owedReplacements: -2, interruptions: 0 });
      await Promise.all(Array.from({ length: 10 }, () => store.addPoolCounters("etl", { replacements: 1 })));
      const after = await store.getPool("etl");
      assert.deepEqual(after, { ...record, interruptions: 2, replacements: 11, owedReplacements: 1 });
      assert.ok(await store.updatePool("etl", record.version, { desiredSize: 2 }), "counters never fail a versioned update");

      await assert.rejects(store.addPoolCounters("gone", { interruptions: 1 }), /no such pool/);
      // Nothing to add is not even checked against the pool (documented in fleet-store.ts).
      await store.addPoolCounters("gone", { interruptions: 0 });
      await store.addPoolCounters("gone", {});
      assert.equal(await store.getPool("gone"), null);
    });

    test("putNode records once, with defaults filled in; a second put is false and changes nothing", async (t) => {
      const { store } = await open(t);
      // No pool item: nodes do not need one.
      const { exportId: _e, readyAt: _r, retiringAt: _t, drainingAt: _d, version: _v, ...bare } = nodeFor("etl", "i-0a");
      assert.equal(await store.putNode(bare as NodeRecord), true);
      const stored = await store.getNode("etl", "i-0a");
      assert.deepEqual(stored, nodeFor("etl", "i-0a"));
      assert.deepEqual([stored?.version, stored?.exportId, stored?.readyAt], [0, null, null]);
      assert.equal(await store.putNode(nodeFor("etl", "i-0a", { lifecycle: "READY", price: 1, version: 5 })), false);
      assert.deepEqual(await store.getNode("etl", "i-0a"), stored);
      assert.equal(await store.getNode("etl", "i-0b"), null);
      assert.equal(await store.getNode("other", "i-0a"), null, "the same instance id in another pool is another node");
      // Thrown or rejected, either is refusing (DynamoFleetStore throws synchronously: putNode is not async).
      await assert.rejects(async () => store.putNode({ ...nodeFor("etl", "i-0c"), lifecycle: "GONE" as NodeRecord["lifecycle"] }));
      assert.equal(await store.getNode("etl", "i-0c"), null, "an invalid record is refused before any write");
    });

    test("listNodes: every node of the pool by instance id, terminated ones too, nothing of other pools", async (t) => {
      const { store } = await open(t);
      assert.deepEqual(await store.listNodes("etl"), []);
      await store.applyPool(poolFor("etl"));
      for (const id of ["i-0c", "i-0a", "i-0b"]) await store.putNode(nodeFor("etl", id));
      await store.putNode(nodeFor("etl-2", "i-0d"));
      await store.putNode(nodeFor("etl", "i-00", { lifecycle: "TERMINATED", terminatedAt: "2026-01-01T01:00:00.000Z" }));
      const nodes = await store.listNodes("etl");
      assert.deepEqual(
        nodes.map((n) => [n.instanceId, n.lifecycle]),
        [
          ["i-00", "TERMINATED"],
          ["i-0a", "LAUNCHING"],
          ["i-0b", "LAUNCHING"],
          ["i-0c", "LAUNCHING"],
        ],
      );
      assert.deepEqual(nodes[1], await store.getNode("etl", "i-0a"));
      assert.deepEqual(
        (await store.listNodes("etl-2")).map((n) => n.instanceId),
        ["i-0d"],
      );
    });

    test("updateNode is version-checked; nodes get no updatedAt", async (t) => {
      const { store } = await open(t);
      await store.putNode(nodeFor("etl", "i-0a"));
      const ready = await store.updateNode("etl", "i-0a", 0, {
        lifecycle: "READY",
        readyAt: "2026-01-01T00:01:00.000Z",
        heartbeatAt: null,
      });
      assert.deepEqual(ready, { ...nodeFor("etl", "i-0a"), lifecycle: "READY", readyAt: "2026-01-01T00:01:00.000Z", version: 1 });
      assert.equal(Object.hasOwn(ready ?? {}, "updatedAt"), false);
      assert.equal(await store.updateNode("etl", "i-0a", 0, { lifecycle: "DRAINING" }), null, "stale version");
      assert.equal(await store.updateNode("etl", "i-0b", 0, { lifecycle: "DRAINING" }), null, "unknown node");
      assert.deepEqual(await store.getNode("etl", "i-0a"), ready);
      const draining = await store.updateNode("etl", "i-0a", 1, {
        lifecycle: "DRAINING",
        drainingAt: "t",
        reason: undefined,
        currentPartition: null,
      });
      assert.deepEqual(draining, { ...ready, lifecycle: "DRAINING", drainingAt: "t", version: 2 });
      const racing = await Promise.all([1, 2, 3].map((i) => store.updateNode("etl", "i-0a", 2, { price: i })));
      assert.equal(racing.filter(Boolean).length, 1, "concurrent updates of one version: exactly one wins");
    });

    test("records are copies: mutating what went in or came out changes nothing stored", async (t) => {
      const { store } = await open(t);
      const spec = poolFor("etl");
      const { record } = await store.applyPool(spec);
      spec.subnets.push("subnet-0zz");
      record.capacityErrors.x = "y";
      record.spec.instanceTypes.push("c6i.large");
      const node = nodeFor("etl", "i-0a");
      await store.putNode(node);
      node.lifecycle = "READY";
      const read = await store.getNode("etl", "i-0a");
      if (read) read.lifecycle = "TERMINATED";
      const pool = await store.getPool("etl");
      assert.deepEqual([pool?.spec.subnets, pool?.spec.instanceTypes, pool?.capacityErrors], [["subnet-0a1b"], ["m6i.large"], {}]);
      assert.equal((await store.getNode("etl", "i-0a"))?.lifecycle, "LAUNCHING");
    });

    test("leader: a free lease is taken at term 1 and renewed by its owner without a new term", async (t) => {
      const { store, clock } = await open(t);
      assert.equal(await store.getLeader(), null);
      assert.deepEqual(await store.acquireLeadership("a", 30_000), { owner: "a", expiresAt: clock.now() + 30_000, term: 1 });
      assert.equal(await store.acquireLeadership("b", 30_000), null);
      await clock.advance(10_000);
      const renewed = await store.acquireLeadership("a", 30_000);
      assert.deepEqual(renewed, { owner: "a", expiresAt: clock.now() + 30_000, term: 1 });
      assert.deepEqual(await store.getLeader(), renewed);
      const shorter = await store.acquireLeadership("a", 1_000);
      assert.equal(shorter?.expiresAt, clock.now() + 1_000, "a renewal sets the expiry, even an earlier one");
    });

    test("leader: an expired lease is taken over at term + 1; at exactly expiresAt it is still held", async (t) => {
      const { store, clock } = await open(t);
      await store.acquireLeadership("a", 30_000);
      await clock.advance(30_000);
      assert.equal(await store.acquireLeadership("b", 30_000), null);
      await clock.advance(1);
      const b = await store.acquireLeadership("b", 30_000);
      assert.deepEqual(b, { owner: "b", expiresAt: clock.now() + 30_000, term: 2 });
      assert.equal(await store.acquireLeadership("a", 30_000), null, "the old leader cannot come back while b holds it");
      assert.deepEqual(await store.getLeader(), b);
      // The holder renewing after its own expiry (nobody took over) keeps its term.
      await clock.advance(40_000);
      assert.equal((await store.acquireLeadership("b", 30_000))?.term, 2);
      await clock.advance(40_000);
      assert.equal((await store.acquireLeadership("a", 30_000))?.term, 3);
    });

    test("leader: release hands over at once and only by its owner; the term counts owner changes", async (t) => {
      const { store, clock } = await open(t);
      await store.releaseLeadership("a"); // no lease at all: a no-op
      assert.equal(await store.getLeader(), null);
      const a = await store.acquireLeadership("a", 30_000);
      await store.releaseLeadership("b");
      assert.deepEqual(await store.getLeader(), a, "someone else's release is a no-op");
      await store.releaseLeadership("a");
      assert.deepEqual(await store.getLeader(), { owner: "a", expiresAt: 0, term: 1 });
      assert.equal((await store.acquireLeadership("a", 30_000))?.term, 1, "the same owner again: no new term");
      await store.releaseLeadership("a");
      assert.deepEqual(await store.acquireLeadership("b", 30_000), { owner: "b", expiresAt: clock.now() + 30_000, term: 2 });
      await store.releaseLeadership("a");
      assert.equal((await store.getLeader())?.owner, "b");
    });

    test("leader: callers racing for a free or an expired lease: exactly one wins", async (t) => {
      const { store, clock } = await open(t);
      const owners = ["a", "b", "c", "d", "e"];
      const first = (await Promise.all(owners.map((o) => store.acquireLeadership(o, 30_000)))).filter((l) => l !== null);
      assert.equal(first.length, 1);
      assert.equal(first[0]?.term, 1);
      await clock.advance(30_001);
      const second = (await Promise.all(owners.map((o) => store.acquireLeadership(`${o}2`, 30_000)))).filter((l) => l !== null);
      assert.equal(second.length, 1);
      assert.equal(second[0]?.term, 2);
      assert.deepEqual(await store.getLeader(), second[0]);
    });

    test("launch records: numbered in sequence, one open at a time, closed only by their own number", async (t) => {
      const { store } = await open(t);
      const name = `launches-${crypto.randomUUID().slice(0, 8)}`;
      const intent = (seq: number) => ({
        pool: name,
        seq,
        clientToken: `tok-${seq}`,
        request: `{"count":${seq}}`,
        startedAt: "2026-01-01T00:00:00.000Z",
      });
      assert.equal(await store.getLaunch(name), null);
      assert.equal(await store.openLaunch(intent(2)), false, "the first launch is number 1");
      assert.equal(await store.openLaunch(intent(1)), true);
      assert.deepEqual(await store.getLaunch(name), { ...intent(1), open: true });
      assert.equal(await store.openLaunch(intent(2)), false, "launch 1 is still open");
      assert.equal(await store.openLaunch(intent(1)), false, "launch 1 is recorded already");
      await store.closeLaunch(name, 7);
      assert.equal((await store.getLaunch(name))?.open, true, "closing another number is a no-op");
      await store.closeLaunch(name, 1);
      assert.deepEqual(await store.getLaunch(name), { ...intent(1), open: false });
      const racing = await Promise.all([store.openLaunch(intent(2)), store.openLaunch({ ...intent(2), clientToken: "other" })]);
      assert.equal(racing.filter(Boolean).length, 1, "of two racing for launch 2, one records it");
      assert.equal((await store.getLaunch(name))?.seq, 2);
      await store.closeLaunch(`${name}-none`, 1);
    });
  });
}
