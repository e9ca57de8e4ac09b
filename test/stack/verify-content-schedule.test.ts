import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { tick } from "../../controller/schedule/scheduler.ts";
import { verifySchedule } from "../../controller/verify/schedule-verify.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { type IncrementalFixture, incrementalFixture } from "../helpers/incremental-fixture.ts";

// `schedule verify` compares content and names the keys that differ: a value changed in the source without moving
// the version column (a writer that bypassed ON UPDATE), or a row the schedule never saw, is found in bounded memory.

let fx: IncrementalFixture;
let table: string;
before(async () => {
  fx = await incrementalFixture();
  await fx.ordersTable("orders");
  await fx.insertOrders("orders", 12_000);
  table = `\`${fx.database}\`.orders`;
});
after(() => fx?.cleanup());

test("schedule verify: a changed value with the version untouched, and a lost and a foreign row, are named by key", async () => {
  const spec = fx.spec("orders-5m", "orders", {});
  const verify = (opts = {}) =>
    verifySchedule(
      { s3: fx.deps.s3, schedules: fx.schedules, jobs: fx.deps.jobs, connect: (source) => openSource(source) },
      "orders-5m",
      opts,
    );
  for (let i = 0; i < 2; i++) {
    const r = await tick(fx.deps, spec);
    assert.equal(r.action, "committed", r.message);
    await fx.clock.advance(5 * 60_000);
    await fx.insertOrders("orders", 500);
    await fx.conn.query(`UPDATE ${table} SET amount = amount + 1 WHERE id BETWEEN 10 AND 20`);
  }
  const r = await tick(fx.deps, spec);
  assert.equal(r.action, "committed", r.message);
  const clean = await verify();
  assert.equal(clean.ok, true, clean.problems.join("; "));
  assert.equal(clean.mode, "content");
  assert.equal(clean.s3.rows, 13_000);

  // updated_at kept as it was: the version column says nothing changed, the content does.
  await fx.conn.query(`UPDATE ${table} SET note = 'tampered', updated_at = updated_at WHERE id IN (5, 9000)`);
  // Deleted in the source (out of scope for the schedule: reported as not in the source), and an old-stamped row.
  await fx.conn.query(`DELETE FROM ${table} WHERE id = 77`);
  await fx.conn.query(
    `INSERT INTO ${table} (id, customer_id, amount, note, updated_at) VALUES (99999, 1, 1.00, 'late', '2000-01-01 00:00:00')`,
  );
  const report = await verify({ rows: 10 });
  assert.equal(report.ok, false);
  assert.deepEqual(report.keys.map((k) => `${k.key} ${k.problem}`).sort(), [
    "5 different content",
    "77 not in the source",
    "9000 different content",
    "99999 missing in S3",
  ]);
  // The key-only mode (key and version) sees the row counts, not the tampered notes.
  const keys = await verify({ keysOnly: true, rows: 10 });
  assert.deepEqual(keys.keys.map((k) => `${k.key} ${k.problem}`).sort(), ["77 not in the source", "99999 missing in S3"]);
});
