import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { runSchedule, type TickResult, tick } from "../../controller/schedule/scheduler.ts";
import { type IncrementalFixture, incrementalFixture } from "../helpers/incremental-fixture.ts";

// Three consecutive updated-at runs with inserts and in-place updates in between, on local agents, against MariaDB,
// DynamoDB Local and the S3 store; the schedule's time is a FakeClock. Every row version is captured by exactly one
// run, and keeping the latest run's row per primary key rebuilds the table.

let fx: IncrementalFixture;
before(async () => {
  fx = await incrementalFixture();
  await fx.ordersTable("orders");
});
after(() => fx.cleanup());

type Row = { id: string; customer_id: number; amount: string; note: string | null; updated_at: string };

async function sourceRows(): Promise<Map<string, Row>> {
  const [rows] = await fx.conn.query({
    sql: `SELECT CAST(id AS CHAR) AS id, customer_id, CAST(amount AS CHAR) AS amount, note, CAST(updated_at AS CHAR) AS updated_at FROM \`${fx.database}\`.orders`,
  });
  return new Map((rows as Row[]).map((r) => [r.id, r]));
}

test("three incremental runs capture every insert and update exactly once; dedupe by primary key rebuilds the table", async () => {
  const spec = fx.spec("orders-inc", "orders", { quality: [{ rule: "row-count" }, { rule: "distinct" }] });
  const results: TickResult[] = [];
  const run = async () => {
    const r = await tick(fx.deps, spec);
    results.push(r);
    await fx.clock.advance(5 * 60_000);
    return r;
  };

  await fx.insertOrders("orders", 500);
  const r1 = await run();
  assert.equal(r1.action, "committed", r1.message);

  await fx.insertOrders("orders", 200);
  await fx.conn.query(`UPDATE \`${fx.database}\`.orders SET amount = amount + 1 WHERE id BETWEEN 1 AND 50`);
  const r2 = await run();
  assert.equal(r2.action, "committed", r2.message);

  await fx.insertOrders("orders", 100);
  // Rows updated a second time (1..10), and rows first exported by run 2 (601..620).
  await fx.conn.query(`UPDATE \`${fx.database}\`.orders SET note = 'again' WHERE id BETWEEN 1 AND 10 OR id BETWEEN 601 AND 620`);
  const r3 = await run();
  assert.equal(r3.action, "committed", r3.message);

  const idle = await run();
  assert.equal(idle.action, "no-new-rows", "a tick without new rows starts nothing (no export, no agents)");

  assert.deepEqual(
    [r1, r2, r3].map((r) => r.run!.rows),
    [500, 250, 130],
  );
  const runs = await fx.schedules.listRuns("orders-inc");
  assert.deepEqual(
    runs.map((r) => [r.seq, r.state]),
    [
      [3, "COMMITTED"],
      [2, "COMMITTED"],
      [1, "COMMITTED"],
    ],
  );
  assert.equal(runs[2]!.lo, null);
  assert.equal(runs[1]!.lo, runs[2]!.hi, "run 2 starts where run 1 stopped");
  assert.equal(runs[0]!.lo, runs[1]!.hi, "run 3 starts where run 2 stopped");
  assert.equal((await fx.schedules.getSchedule("orders-inc"))!.watermark, runs[0]!.hi);

  // The output: one Hive-style directory per run, a manifest with the run section; versions across runs.
  const latest = new Map<string, { seq: number; row: Row }>();
  const versions = new Set<string>();
  for (const r of [...runs].reverse()) {
    assert.match(r.manifestKey!, /^lake\/orders-inc\/run=2026-11-21T10-\d\d-\d\d\/_manifest\.json$/);
    const m = await fx.manifestOf(r.manifestKey!);
    const section = m.run as {
      seq: number;
      dedupeKey: string[];
      versionColumn: string;
      watermark: { after: string | null; upTo: string };
      quality: { passed: boolean }[];
    };
    assert.deepEqual(section.dedupeKey, ["id"]);
    assert.equal(section.versionColumn, "updated_at");
    assert.deepEqual(section.watermark, { after: r.lo, upTo: r.hi });
    assert.ok(
      section.quality.every((q) => q.passed),
      JSON.stringify(section.quality),
    );
    const ids = new Set<string>();
    for (const row of (await fx.rowsOf(m)) as Row[]) {
      assert.ok(!ids.has(row.id), `id ${row.id} twice within run ${r.seq}`);
      ids.add(row.id);
      const version = `${row.id}@${row.updated_at}`;
      assert.ok(!versions.has(version), `version ${version} captured twice`);
      versions.add(version);
      const seen = latest.get(row.id);
      if (!seen || seen.seq < r.seq) latest.set(row.id, { seq: r.seq, row });
    }
  }
  const source = await sourceRows();
  assert.equal(latest.size, source.size);
  for (const [id, want] of source) assert.deepEqual(latest.get(id)?.row, want, `row ${id}`);
  assert.equal(versions.size, 880, "500 inserts + 200 inserts + 50 updates + 100 inserts + 30 updates");
});

test("schedule run ticks every incremental.every on the injected clock", async () => {
  const spec = fx.spec("orders-inc", "orders");
  const ticks: TickResult[] = [];
  // The n-th tick as a promise: the wait ends when the tick arrives, bounded only by the test's own timeout.
  const waiting = new Map<number, () => void>();
  const tickNumber = (n: number) => new Promise<void>((resolve) => (ticks.length >= n ? resolve() : waiting.set(n, resolve)));
  const stop = new AbortController();
  const loop = runSchedule(fx.deps, spec, stop.signal, (r) => {
    ticks.push(r);
    waiting.get(ticks.length)?.();
  });
  await tickNumber(1);
  // runSchedule is asleep on the fake clock by now (it calls sleep right after onTick); one millisecond short of
  // `every` its sleeper cannot be due, so the first advance must not bring a tick and the second must.
  await fx.insertOrders("orders", 10);
  await fx.clock.advance(5 * 60_000 - 1);
  assert.equal(ticks.length, 1, "no second tick before incremental.every has passed on the clock");
  await fx.clock.advance(1);
  await tickNumber(2);
  stop.abort();
  await loop;
  assert.deepEqual(
    ticks.map((t) => t.action),
    ["no-new-rows", "committed"],
  );
  assert.equal(ticks[1]!.run!.rows, 10);
});
