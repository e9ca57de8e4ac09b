import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type TickResult, tick } from "../../controller/schedule/scheduler.ts";
import { createCallLog } from "../../sim/data/call-log.ts";
import { requireEnv } from "../helpers/env.ts";
import { type IncrementalFixture, incrementalFixture } from "../helpers/incremental-fixture.ts";
import { cli } from "../helpers/snapshot.ts";

/** verify connects where the operator says, never where the bucket says. */
const verifyConnection = () => [
  "--host",
  requireEnv("SPOTFERRY_MYSQL_HOST"),
  "--port",
  requireEnv("SPOTFERRY_MYSQL_PORT"),
  "--user",
  requireEnv("SPOTFERRY_MYSQL_USER"),
  "--password-env",
  "SPOTFERRY_MYSQL_PASSWORD",
];

// Issue 8's "done when", rehearsed: a five-minute schedule over the demo table (sim/data/call-log.ts, 50k rows, its
// own database) on a FakeClock, with inserts, in-place updates and one schema change between ticks. Afterwards
// `spotferry schedule verify` proves the S3 output (newest version per key over the runs) equals the source, and
// `spotferry status --json` shows each run with its watermark, rows and quality results.

const ROWS = 50_000;
let fx: IncrementalFixture;
let table: string;
before(async () => {
  fx = await incrementalFixture();
  await createCallLog(fx.conn, { database: fx.database, rows: ROWS });
  table = `\`${fx.database}\`.call_log`;
});
after(() => fx?.cleanup());

/** New calls with ids in the gap between the dense and the sparse run; updated_at comes from its DEFAULT (NOW(6)). */
async function insertCalls(from: number, n: number, extra = "") {
  await fx.conn.query(`INSERT INTO ${table} (id, customer_id, caller, callee, started_at, duration_s, cost, status, notes${extra ? ", region" : ""})
    SELECT ${from} + seq, seq MOD 97, '+15550000000', '+445550000000', '2026-11-21 10:00:00.000', seq MOD 600, 0.5, 'completed',
      IF(seq MOD 3 = 0, NULL, 'new call')${extra ? `, '${extra}'` : ""}
    FROM \`${fx.database}\`.seq_1_to_${n}`);
}

const env = () => ({ SPOTFERRY_STATE_TABLE: fx.tableName });

test("a 5-minute schedule over the call log keeps S3 equal to the source across inserts, updates and a schema change", async (t) => {
  const spec = fx.spec("calls-5m", "call_log", {
    destination: { bucket: fx.bucket, prefix: "lake/", format: "parquet", chunk: { maxRows: 10_000 } },
    schemaDrift: "evolve",
    quality: [
      { rule: "row-count" },
      { rule: "distinct" },
      { rule: "null-rate", column: "notes", max: 0.2, policy: "flag" },
      { rule: "range", column: "duration_s", min: 0, max: 3600 },
    ],
  });
  const ticks: TickResult[] = [];
  const run = async () => {
    const r = await tick(fx.deps, spec);
    ticks.push(r);
    assert.equal(r.action, "committed", r.message);
    await fx.clock.advance(5 * 60_000);
    return r;
  };

  await run(); // the initial run: the whole table
  await insertCalls(500_000_000, 1000);
  await fx.conn.query(`UPDATE ${table} SET status = 'failed', cost = cost + 1 WHERE id BETWEEN 100 AND 399`);
  // Ids past 2^53 are compared as exact text on both sides.
  await fx.conn.query(`UPDATE ${table} SET notes = 'disputed' WHERE id >= 18446744073709551606`);
  await run();
  await fx.conn.query(`ALTER TABLE ${table} ADD COLUMN region VARCHAR(8) NULL`);
  await insertCalls(600_000_000, 500, "eu");
  await fx.conn.query(`UPDATE ${table} SET region = 'us', cost = cost + 2 WHERE id BETWEEN 300 AND 499`);
  await run();

  assert.deepEqual(
    ticks.map((t) => t.run!.rows),
    [ROWS, 1000 + 300 + 10, 500 + 200],
  );
  assert.deepEqual(
    ticks.map((t) => t.run!.drift.action),
    ["none", "none", "evolved"],
  );
  assert.ok(ticks[2]!.run!.columns.includes("region"), "the new column is exported from run 3 on");

  const verify = await cli(["schedule", "verify", "calls-5m", ...verifyConnection(), "--json"], env());
  assert.equal(verify.code, 0, `${verify.stdout}${verify.stderr}`);
  const report = JSON.parse(verify.stdout);
  t.diagnostic(`schedule verify: ${JSON.stringify({ ...report, problems: report.problems.length })}`);
  assert.equal(report.ok, true);
  assert.deepEqual(
    [report.runs, report.versionsRead, report.s3.rows, report.source.rows],
    [3, ROWS + 1310 + 700, ROWS + 1500, ROWS + 1500],
  );
  assert.equal(report.s3.checksum, report.source.checksum);
  assert.equal(report.pending, 0);

  // A change after the last run is pending (the next run's), not a mismatch.
  await fx.conn.query(`UPDATE ${table} SET cost = cost + 3 WHERE id = 7`);
  const pending = JSON.parse((await cli(["schedule", "verify", "calls-5m", ...verifyConnection(), "--json"], env())).stdout);
  assert.deepEqual([pending.ok, pending.pending, pending.s3.rows], [true, 1, ROWS + 1500 - 1]);

  // A row stamped below the watermark after its run committed (a writer that outlived the safety lag) is missing.
  await fx.conn.query(
    `INSERT INTO ${table} (id, customer_id, caller, callee, started_at, duration_s, cost, status, updated_at)
     VALUES (700000000, 1, '+1', '+44', '2021-01-01', 1, 1, 'busy', '2021-06-01 00:00:00')`,
  );
  const missing = await cli(["schedule", "verify", "calls-5m", ...verifyConnection()], env());
  assert.equal(missing.code, 4, missing.stdout);
  assert.match(missing.stdout, /rows in the source, .* in the output .*MISMATCH/s);
  await fx.conn.query(`DELETE FROM ${table} WHERE id = 700000000`);

  // status shows the schedule with each run's watermark, rows and quality results.
  const status = await cli(["status", "--json"], env());
  assert.equal(status.code, 0, status.stdout);
  const sc = (JSON.parse(status.stdout).schedules as { name: string; watermark: string; recentRuns: Record<string, unknown>[] }[]).find(
    (s) => s.name === "calls-5m",
  );
  assert.ok(sc, "the schedule is listed");
  assert.equal(sc.watermark, ticks[2]!.run!.hi);
  const runs = sc.recentRuns as {
    seq: number;
    state: string;
    rows: number;
    watermark: { after: string | null; upTo: string };
    quality: { rule: string; result: string }[];
    drift: { action: string };
  }[];
  assert.deepEqual(
    runs.map((r) => [r.seq, r.state, r.rows, r.drift.action]),
    [
      [3, "COMMITTED", 700, "evolved"],
      [2, "COMMITTED", 1310, "none"],
      [1, "COMMITTED", ROWS, "none"],
    ],
  );
  assert.deepEqual(
    runs.map((r) => r.watermark),
    ticks.map((t) => ({ after: t.run!.lo, upTo: t.run!.hi })).reverse(),
  );
  for (const r of runs) {
    assert.deepEqual(
      r.quality.map((q) => q.rule),
      ["row-count", "distinct", "null-rate", "range"],
    );
    assert.ok(
      r.quality.every((q) => q.result === "pass" || (q.rule === "null-rate" && q.result === "flag")),
      JSON.stringify(r.quality),
    );
  }
  const human = (await cli(["status"], env())).stdout;
  assert.match(human, /SCHEDULES\n {2}calls-5m: watermark .*, 3 runs, no run in flight/);
});
