import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../lib/clock.ts";
import { LeaseExpiredError, LeaseKeeper } from "../../lib/leases/keeper.ts";

const settle = () => new Promise((r) => setImmediate(r));

test("renews in the background every third of the lease, on the injected clock", async () => {
  const clock = new FakeClock();
  let renewals = 0;
  const keeper = new LeaseKeeper({ what: "lease", clock, leaseMs: 30_000, renew: async () => ++renewals > 0 }).start();
  await clock.advance(9_999);
  assert.equal(renewals, 0);
  await clock.advance(1);
  await settle();
  assert.equal(renewals, 1);
  for (let i = 0; i < 3; i++) await clock.advance(10_000);
  await settle();
  assert.equal(renewals, 4);
  assert.equal(keeper.held(), true);
  await keeper.stop();
});

test("a renewal the store refuses is a loss: the signal aborts once, onLost fires once, renewing stops", async () => {
  const clock = new FakeClock();
  const lost: Error[] = [];
  let calls = 0;
  const keeper = new LeaseKeeper({
    what: "partition 3",
    clock,
    leaseMs: 30_000,
    renew: async () => ++calls < 2,
    onLost: (e) => lost.push(e),
  }).start();
  await clock.advance(10_000);
  await clock.advance(10_000);
  await settle();
  assert.equal(keeper.signal.aborted, true);
  assert.match(String(keeper.signal.reason), /partition 3: taken over/);
  for (let i = 0; i < 5; i++) await clock.advance(10_000);
  assert.deepEqual([calls, lost.length], [2, 1]);
  await keeper.stop();
});

test("a typed loss thrown by the store counts as a loss; other errors are retried while the lease lasts", async () => {
  class Fenced extends Error {}
  const clock = new FakeClock();
  const errors: unknown[] = [];
  let fail: Error | null = new Error("throttled");
  const keeper = new LeaseKeeper({
    what: "lease",
    clock,
    leaseMs: 30_000,
    isLoss: (e) => e instanceof Fenced,
    onError: (e) => errors.push(e),
    renew: async () => {
      if (fail) throw fail;
      return true;
    },
  });
  clock.set(clock.now() + 10_000);
  assert.equal(await keeper.renewIfDue(), true, "a transient failure keeps a lease that has time left");
  fail = new Fenced("epoch moved on");
  assert.equal(await keeper.renewIfDue(), false);
  assert.equal(errors.length, 1);
  assert.ok(keeper.signal.reason instanceof Fenced);
});

test("renewals that keep failing give the lease up at expiry minus the skew margin, before anyone else may take it", async () => {
  const clock = new FakeClock();
  const keeper = new LeaseKeeper({
    what: "the leader lease",
    clock,
    leaseMs: 30_000,
    skewMs: 5_000,
    renew: async () => {
      throw new Error("DynamoDB unreachable");
    },
  }).start();
  await clock.advance(10_000);
  await clock.advance(10_000);
  assert.equal(keeper.held(), true);
  await clock.advance(4_999);
  assert.equal(keeper.held(), true);
  await clock.advance(1);
  await settle();
  assert.equal(keeper.held(), false);
  assert.ok(keeper.signal.reason instanceof LeaseExpiredError);
  await keeper.stop();
});

test("renewIfDue renews only when due, unless forced; stop() never reports a loss", async () => {
  const clock = new FakeClock();
  let renewals = 0;
  const lost: Error[] = [];
  const keeper = new LeaseKeeper({
    what: "schedule s",
    clock,
    leaseMs: 9_000,
    renew: async () => ++renewals > 0,
    onLost: (e) => lost.push(e),
  });
  assert.equal(await keeper.renewIfDue(), true);
  assert.equal(renewals, 0);
  assert.equal(await keeper.renewIfDue(true), true);
  assert.equal(renewals, 1);
  await keeper.stop();
  clock.set(clock.now() + 60_000);
  assert.equal(keeper.held(), false);
  assert.equal(lost.length, 0);
});
