import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { type NewRun, type RunResult, ScheduleConflictError, type ScheduleStore } from "../../controller/store/schedule-store.ts";
import { type Clock, FakeClock } from "../../lib/clock.ts";

/**
 * The ScheduleStore contract (controller/store/schedule-store.ts): every backend runs these cases, each on a store
 * of its own over empty state with its own FakeClock.
 */
export interface ScheduleStoreBackend {
  store: ScheduleStore;
  close(): Promise<void>;
}

const TTL = 60_000;
const iso = (clock: Clock) => new Date(clock.now()).toISOString();
const conflict = ScheduleConflictError;

/** Run `seq` over (lo, hi]; `columns` wide schemas make items big enough to need more than one 1 MB page. */
export function newRun(seq: number, lo: string | null, hi: string, options: { columns?: number } = {}): NewRun {
  const schema = Array.from({ length: options.columns ?? 2 }, (_, i) => ({
    name: `column_with_a_rather_long_name_${String(i).padStart(5, "0")}`,
    type: i === 0 ? "bigint(20) unsigned" : "varchar(255)",
    nullable: i > 0,
    position: i + 1,
  }));
  return {
    ...{ seq, lo, hi, runAt: `2026-01-01T00-${String(seq).padStart(2, "0")}`, sourceRows: 10 * seq, dbNow: `${hi}.5` },
    ...{ schema, columns: schema.map((c) => c.name) },
    drift: { policy: "evolve", changes: [], action: "none", message: "" },
  };
}

const committed = (rows = 10): RunResult => ({ state: "COMMITTED", rows, bytes: rows * 100, quality: [], manifestKey: `m/${rows}.json` });

export function scheduleStoreContract(name: string, openBackend: (options: { clock: Clock }) => Promise<ScheduleStoreBackend>): void {
  async function open(t: TestContext) {
    const clock = new FakeClock();
    const backend = await openBackend({ clock });
    t.after(() => backend.close());
    return { store: backend.store, clock };
  }

  /** A schedule leased to `owner` with runs 1..n committed, watermarks "10", "20", ... */
  async function withRuns(store: ScheduleStore, schedule: string, n: number, options: { owner?: string; columns?: number } = {}) {
    const owner = options.owner ?? "me";
    await store.ensureSchedule(schedule);
    assert.equal(await store.acquireLease(schedule, owner, TTL), true);
    for (let seq = 1; seq <= n; seq++) {
      await store.startRun(schedule, owner, newRun(seq, seq === 1 ? null : String((seq - 1) * 10), String(seq * 10), options));
      await store.commitRun(schedule, owner, seq, committed(seq));
    }
  }

  describe(`ScheduleStore contract: ${name}`, () => {
    test("ensureSchedule creates an empty schedule once and then returns it unchanged", async (t) => {
      const { store, clock } = await open(t);
      assert.equal(await store.getSchedule("calls"), null);
      const created = await store.ensureSchedule("calls");
      assert.deepEqual(created, {
        ...{ name: "calls", watermark: null, lastSeq: 0, currentRun: null, leaseOwner: null, leaseUntil: null },
        ...{ lastSchema: null, lastColumns: null, lastCheckedAt: null, lastNote: null, updatedAt: iso(clock) },
      });
      await clock.advance(5_000);
      assert.deepEqual(await store.ensureSchedule("calls"), created, "not even updatedAt moves");
      assert.deepEqual(await store.getSchedule("calls"), created);
      await withRuns(store, "calls", 1);
      const moved = await store.getSchedule("calls");
      assert.deepEqual(await store.ensureSchedule("calls"), moved, "an existing schedule keeps its watermark and lease");
    });

    test("listSchedules: by name, at most limit; a limit below 1 throws", async (t) => {
      const { store } = await open(t);
      assert.deepEqual(await store.listSchedules(), []);
      for (const n of ["orders", "calls", "users", "audit"]) await store.ensureSchedule(n);
      const all = await store.listSchedules();
      assert.deepEqual(
        all.map((s) => s.name),
        ["audit", "calls", "orders", "users"],
      );
      assert.deepEqual(all[1], await store.getSchedule("calls"));
      assert.deepEqual(
        (await store.listSchedules({ limit: 2 })).map((s) => s.name),
        ["audit", "calls"],
      );
      await assert.rejects(store.listSchedules({ limit: 0 }), /listing schedules/);
    });

    test("the lease: exclusive, renewable by its owner, free once expired or released", async (t) => {
      const { store, clock } = await open(t);
      assert.equal(await store.acquireLease("calls", "a", TTL), false, "no such schedule: false, not an error");
      assert.equal(await store.getSchedule("calls"), null);
      const created = await store.ensureSchedule("calls");
      assert.equal(await store.acquireLease("calls", "a", TTL), true);
      assert.equal(await store.acquireLease("calls", "b", TTL), false);
      assert.deepEqual(await store.getSchedule("calls"), { ...created, leaseOwner: "a", leaseUntil: clock.now() + TTL });
      await clock.advance(TTL);
      assert.equal(await store.acquireLease("calls", "b", TTL), false, "at exactly leaseUntil it is still held");
      assert.equal(await store.acquireLease("calls", "a", 10_000), true, "renewal, even to an earlier expiry");
      assert.equal((await store.getSchedule("calls"))?.leaseUntil, clock.now() + 10_000);
      await clock.advance(10_001);
      assert.equal(await store.acquireLease("calls", "b", TTL), true, "expired: taken over");
      assert.equal(await store.acquireLease("calls", "a", TTL), false);
      await store.releaseLease("calls", "a"); // not a's any more: a no-op
      await store.releaseLease("nope", "a");
      assert.equal((await store.getSchedule("calls"))?.leaseOwner, "b");
      await store.releaseLease("calls", "b");
      assert.deepEqual(await store.getSchedule("calls"), { ...created, leaseOwner: null, leaseUntil: null }, "updatedAt unchanged");
      assert.equal(await store.acquireLease("calls", "a", TTL), true, "released: free at once");
    });

    test("schedulers racing for a free lease: exactly one wins", async (t) => {
      const { store } = await open(t);
      await store.ensureSchedule("calls");
      const owners = ["a", "b", "c", "d", "e"];
      const won = await Promise.all(owners.map((o) => store.acquireLease("calls", o, TTL)));
      assert.equal(won.filter(Boolean).length, 1);
      assert.equal((await store.getSchedule("calls"))?.leaseOwner, owners[won.indexOf(true)]);
    });

    test("startRun: conditional on the lease, no current run, lastSeq and the watermark", async (t) => {
      const { store, clock } = await open(t);
      await assert.rejects(store.startRun("calls", "me", newRun(1, null, "10")), conflict, "no such schedule");
      const created = await store.ensureSchedule("calls");
      await assert.rejects(store.startRun("calls", "me", newRun(1, null, "10")), conflict, "no lease");
      await store.acquireLease("calls", "other", TTL);
      await assert.rejects(store.startRun("calls", "me", newRun(1, null, "10")), conflict, "someone else's lease");
      assert.deepEqual(await store.getSchedule("calls"), { ...created, leaseOwner: "other", leaseUntil: clock.now() + TTL });
      assert.equal(await store.getRun("calls", 1), null, "a refused start writes no run");

      await store.releaseLease("calls", "other");
      await store.acquireLease("calls", "me", TTL);
      await assert.rejects(store.startRun("calls", "me", newRun(2, null, "10")), conflict, "seq must be lastSeq + 1");
      await clock.advance(1_000);
      // Run 1 may start after incremental.startAfter: its lo is not compared, only the watermark's absence.
      const first = newRun(1, "5", "10");
      const run = await store.startRun("calls", "me", first);
      assert.deepEqual(run, {
        ...first,
        ...{ name: "calls", state: "RUNNING", attempt: 1, exportId: null, rows: 0, bytes: 0, quality: [], manifestKey: null },
        ...{ error: null, startedAt: iso(clock), finishedAt: null, updatedAt: iso(clock) },
      });
      assert.deepEqual(await store.getRun("calls", 1), run);
      const schedule = await store.getSchedule("calls");
      assert.deepEqual([schedule?.currentRun, schedule?.lastSeq, schedule?.updatedAt, schedule?.watermark], [1, 1, iso(clock), null]);
      await assert.rejects(store.startRun("calls", "me", newRun(2, "10", "20")), conflict, "run 1 is still current");
      await assert.rejects(store.startRun("calls", "me", newRun(1, "5", "10")), conflict, "run 1 again");

      await store.commitRun("calls", "me", 1, committed());
      await assert.rejects(store.startRun("calls", "me", newRun(2, "5", "20")), conflict, "lo is not the watermark");
      await assert.rejects(store.startRun("calls", "me", newRun(2, null, "20")), conflict, "lo null after a watermark");
      await assert.rejects(store.startRun("calls", "me", newRun(3, "10", "30")), conflict, "seq skips one");
      assert.equal((await store.startRun("calls", "me", newRun(2, "10", "20"))).seq, 2);
    });

    test("updateRun patches the current run; fenced on the lease, the current seq and the run being unfinished", async (t) => {
      const { store, clock } = await open(t);
      await store.ensureSchedule("calls");
      await store.acquireLease("calls", "me", TTL);
      const run = await store.startRun("calls", "me", newRun(1, null, "10"));
      await clock.advance(1_000);
      const failed = await store.updateRun("calls", "me", 1, { state: "FAILED", error: "boom", exportId: "e-1", attempt: 1 });
      assert.deepEqual(failed, { ...run, state: "FAILED", error: "boom", exportId: "e-1", updatedAt: iso(clock) });
      assert.deepEqual(await store.getRun("calls", 1), failed);
      await clock.advance(1_000);
      const retried = await store.updateRun("calls", "me", 1, { state: "RUNNING", attempt: 2, exportId: null, error: undefined });
      assert.deepEqual(
        retried,
        { ...failed, state: "RUNNING", attempt: 2, exportId: null, updatedAt: iso(clock) },
        "null clears, undefined skips",
      );

      await assert.rejects(store.updateRun("calls", "other", 1, { attempt: 9 }), conflict, "not the lease owner");
      await assert.rejects(store.updateRun("calls", "me", 2, { attempt: 9 }), conflict, "not the current run");
      await assert.rejects(store.updateRun("nope", "me", 1, { attempt: 9 }), conflict, "no such schedule");
      await store.commitRun("calls", "me", 1, committed());
      await assert.rejects(store.updateRun("calls", "me", 1, { attempt: 9 }), conflict, "committed runs never change");
      assert.equal((await store.getRun("calls", 1))?.attempt, 2);
    });

    test("commitRun moves the watermark to run.hi, with the run's schema, and clears the current run", async (t) => {
      const { store, clock } = await open(t);
      await store.ensureSchedule("calls");
      await store.acquireLease("calls", "me", TTL);
      const run = await store.startRun("calls", "me", newRun(1, null, "10"));
      const schema = [{ name: "id", type: "bigint(20)", nullable: false, position: 1 }];
      await store.updateRun("calls", "me", 1, { state: "FAILED", error: "first try failed", schema, columns: ["id"] });
      await assert.rejects(store.commitRun("calls", "other", 1, committed()), conflict, "not the lease owner");
      await assert.rejects(store.commitRun("calls", "me", 2, committed()), conflict, "no such run");
      assert.equal((await store.getSchedule("calls"))?.watermark, null);

      await clock.advance(2_000);
      const done = await store.commitRun("calls", "me", 1, committed(42));
      assert.deepEqual(done, {
        ...run,
        ...{ schema, columns: ["id"], state: "COMMITTED", rows: 42, bytes: 4200, manifestKey: "m/42.json", quality: [] },
        ...{ error: null, finishedAt: iso(clock), updatedAt: iso(clock) },
      });
      assert.deepEqual(await store.getRun("calls", 1), done, "a FAILED run commits directly and its error is cleared");
      const schedule = await store.getSchedule("calls");
      assert.deepEqual(
        { ...schedule, leaseUntil: 0 },
        {
          ...{ name: "calls", watermark: "10", lastSeq: 1, currentRun: null, leaseOwner: "me", leaseUntil: 0 },
          ...{ lastSchema: schema, lastColumns: ["id"], lastCheckedAt: null, lastNote: null, updatedAt: iso(clock) },
        },
        "the lease is kept, lastSeq unchanged",
      );
      await assert.rejects(store.commitRun("calls", "me", 1, committed()), conflict, "a second commit");
      assert.deepEqual(await store.getRun("calls", 1), done);

      // Each later run moves the watermark on from exactly where the last one ended; an idle range commits EMPTY.
      await store.startRun("calls", "me", newRun(2, "10", "20"));
      const empty = await store.commitRun("calls", "me", 2, { state: "EMPTY", rows: 0, bytes: 0, quality: [], manifestKey: null });
      assert.deepEqual([empty.state, empty.lo, empty.hi], ["EMPTY", "10", "20"]);
      assert.equal((await store.getSchedule("calls"))?.watermark, "20");
      assert.deepEqual((await store.getSchedule("calls"))?.lastColumns, newRun(2, "10", "20").columns);
    });

    test("writes are fenced on the lease's owner, not on its expiry", async (t) => {
      const { store, clock } = await open(t);
      await store.ensureSchedule("calls");
      await store.acquireLease("calls", "a", TTL);
      await store.startRun("calls", "a", newRun(1, null, "10"));
      await clock.advance(TTL + 1);
      // Expired, but nobody took over: a's writes still land (documented in schedule-store.ts).
      await store.updateRun("calls", "a", 1, { attempt: 2 });
      await store.touch("calls", "a", "still here");
      assert.equal(await store.acquireLease("calls", "b", TTL), true);
      await assert.rejects(store.updateRun("calls", "a", 1, { attempt: 3 }), conflict);
      await assert.rejects(store.commitRun("calls", "a", 1, committed()), conflict);
      await assert.rejects(store.touch("calls", "a", "late"), conflict);
      // The run in flight stays current for the new owner, with the same bounds.
      const schedule = await store.getSchedule("calls");
      assert.deepEqual([schedule?.currentRun, schedule?.watermark, schedule?.lastNote], [1, null, "still here"]);
      assert.equal((await store.commitRun("calls", "b", 1, committed())).state, "COMMITTED");
      assert.equal((await store.getSchedule("calls"))?.watermark, "10");
    });

    test("touch records a check without a run, fenced on the lease", async (t) => {
      const { store, clock } = await open(t);
      const created = await store.ensureSchedule("calls");
      await assert.rejects(store.touch("calls", "me", "nothing new"), conflict, "no lease");
      await assert.rejects(store.touch("nope", "me", "nothing new"), conflict, "no such schedule");
      await store.acquireLease("calls", "me", TTL);
      await clock.advance(3_000);
      await store.touch("calls", "me", "nothing new");
      assert.deepEqual(await store.getSchedule("calls"), {
        ...created,
        ...{ leaseOwner: "me", leaseUntil: clock.now() - 3_000 + TTL, lastCheckedAt: iso(clock), lastNote: "nothing new" },
      });
      assert.deepEqual(await store.listRuns("calls"), []);
      await store.releaseLease("calls", "me");
      await assert.rejects(store.touch("calls", "me", "again"), conflict, "released");
    });

    test("listRuns: newest first, at most limit; getRun of an unknown run is null", async (t) => {
      const { store } = await open(t);
      assert.deepEqual(await store.listRuns("calls"), []);
      await withRuns(store, "calls", 5);
      await store.startRun("calls", "me", newRun(6, "50", "60"));
      const runs = await store.listRuns("calls");
      assert.deepEqual(
        runs.map((r) => [r.seq, r.state]),
        [[6, "RUNNING"], ...[5, 4, 3, 2, 1].map((s) => [s, "COMMITTED"])],
      );
      assert.deepEqual(runs[1], await store.getRun("calls", 5));
      assert.deepEqual(
        (await store.listRuns("calls", { limit: 2 })).map((r) => r.seq),
        [6, 5],
      );
      await withRuns(store, "other", 1);
      assert.equal((await store.listRuns("calls")).length, 6, "another schedule's runs are not listed");
      assert.equal(await store.getRun("calls", 7), null);
      assert.equal(await store.getRun("nope", 1), null);
      await assert.rejects(store.listRuns("calls", { limit: 0 }), /listing runs of schedule calls/);
    });

    test("listRuns and listSchedules read past one page (items of ~150 KB, pages of 1 MB)", async (t) => {
      const { store } = await open(t);
      // 1500 columns of schema make each run, and each schedule's lastSchema, about 150 KB.
      await withRuns(store, "wide", 12, { columns: 1500 });
      const runs = await store.listRuns("wide");
      assert.deepEqual(
        runs.map((r) => r.seq),
        [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
      );
      assert.equal(runs[11]?.schema.length, 1500);
      assert.deepEqual(
        (await store.listRuns("wide", { limit: 10 })).map((r) => r.seq),
        [12, 11, 10, 9, 8, 7, 6, 5, 4, 3],
      );
      const names = Array.from({ length: 11 }, (_, i) => `s-${String(10 - i).padStart(2, "0")}`);
      for (const n of names) await withRuns(store, n, 1, { columns: 1500 });
      const listed = await store.listSchedules();
      assert.deepEqual(
        listed.map((s) => s.name),
        [...names.sort(), "wide"],
      );
      assert.ok(listed.every((s) => s.lastSchema?.length === 1500));
      assert.equal((await store.listSchedules({ limit: 10 })).length, 10);
    });

    test("records are copies: mutating what went in or came out changes nothing stored", async (t) => {
      const { store } = await open(t);
      await store.ensureSchedule("calls");
      await store.acquireLease("calls", "me", TTL);
      const input = newRun(1, null, "10");
      const run = await store.startRun("calls", "me", input);
      input.schema.push({ name: "x", type: "int", nullable: true, position: 3 });
      input.columns.length = 0;
      run.drift.changes.push({ kind: "added", column: "y" });
      const read = await store.getRun("calls", 1);
      read?.columns.push("z");
      const check = { rule: "r", policy: "flag" as const, passed: true, observed: { n: 1 }, message: "ok" };
      const patched = await store.updateRun("calls", "me", 1, { quality: [check] });
      check.observed.n = 2;
      patched.columns.pop();
      assert.deepEqual((await store.getRun("calls", 1))?.quality, [{ ...check, observed: { n: 1 } }]);
      const done = await store.commitRun("calls", "me", 1, committed());
      done.schema.length = 0;
      (await store.getSchedule("calls"))?.lastSchema?.pop();
      const stored = await store.getRun("calls", 1);
      assert.deepEqual(
        [stored?.schema, stored?.columns, stored?.drift.changes],
        [newRun(1, null, "10").schema, newRun(1, null, "10").columns, []],
      );
      assert.deepEqual(stored?.quality, [], "commitRun's result replaced the quality");
      assert.deepEqual((await store.getSchedule("calls"))?.lastSchema, newRun(1, null, "10").schema);
    });
  });
}
