import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { tick } from "../../controller/schedule/scheduler.ts";
import { systemClock } from "../../lib/clock.ts";
import { openExportSource } from "../../lib/mysql/range-source.ts";
import { type IncrementalFixture, incrementalFixture } from "../helpers/incremental-fixture.ts";

// Data-quality rules (a failing rule under fail, then under flag) and enrichment lookups (matching a SQL LEFT JOIN,
// in batches), on id-mode runs against MariaDB, DynamoDB Local and the S3 store.

describe("quality and enrichment", { concurrency: false }, () => {
  let fx: IncrementalFixture;
  before(async () => {
    fx = await incrementalFixture();
    await fx.ordersTable("orders");
    await fx.insertOrders("orders", 3_000);
    await fx.conn.query(
      `CREATE TABLE \`${fx.database}\`.customers (id INT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL, region VARCHAR(10) NULL)`,
    );
    const customers = Array.from({ length: 20 }, (_, i) => [i + 1, `customer ${i + 1} ☎️`, i % 4 === 0 ? null : `r${i % 3}`]);
    await fx.conn.query(`INSERT INTO \`${fx.database}\`.customers VALUES ?`, [customers]);
  });
  after(() => fx.cleanup());

  const idMode = { mode: "id", column: "id", every: "5m" } as const;

  test("a failing rule with policy fail fails the run (nothing committed); with flag the retry commits and flags it", async () => {
    const rules = (policy: "fail" | "flag") => [
      { rule: "row-count" },
      { rule: "distinct" },
      { rule: "range", column: "amount", min: 0, max: 2000 },
      { rule: "null-rate", column: "note", max: 0.1, policy },
    ];
    const strict = fx.spec("quality", "orders", { incremental: idMode, quality: rules("fail") as never });
    const failed = await tick(fx.deps, strict);
    assert.equal(failed.action, "failed");
    assert.match(failed.message, /null-rate failed: note: 20\.00% NULL \(600 of 3000\), limit 10\.00%/);
    assert.equal(failed.run!.state, "FAILED");
    assert.deepEqual(
      failed.run!.quality.map((q) => [q.rule, q.passed]),
      [
        ["row-count", true],
        ["distinct", true],
        ["range", true],
        ["null-rate", false],
      ],
    );
    const left = await fx.deps.s3.send(new ListObjectsV2Command({ Bucket: fx.bucket, Prefix: "lake/quality/" }));
    assert.equal(left.KeyCount ?? 0, 0, "the rejected attempt left no object (no manifest, no marker, no chunk)");
    assert.equal((await fx.schedules.getSchedule("quality"))!.watermark, null, "the watermark did not move");

    await fx.clock.advance(5 * 60_000);
    const lenient = fx.spec("quality", "orders", { incremental: idMode, quality: rules("flag") as never });
    const retried = await tick(fx.deps, lenient);
    assert.equal(retried.action, "committed", retried.message);
    assert.deepEqual([retried.run!.seq, retried.run!.attempt, retried.run!.lo, retried.run!.rows], [1, 2, null, 3000]);
    assert.match(retried.run!.exportId!, /^quality\/run=2026-11-21T10-05-00-a2$/);
    const m = await fx.manifestOf(retried.run!.manifestKey!);
    const run = m.run as { qualityPassed: boolean; flagged: string[] };
    assert.equal(run.qualityPassed, false);
    assert.deepEqual(run.flagged, ["note: 20.00% NULL (600 of 3000), limit 10.00%"]);
  });

  test("enriched columns match a SQL LEFT JOIN, looked up in batches on the agent's pool", async () => {
    const spec = fx.spec("enriched", "orders", {
      incremental: idMode,
      source: { ...fx.spec("x", "orders").source, columns: ["id", "amount"] },
      enrich: [{ table: "customers", key: { local: "customer_id", remote: "id" }, columns: ["name", "region"], as: "cust_" }],
    } as never);
    const r = await tick(fx.deps, spec);
    assert.equal(r.action, "committed", r.message);
    const m = await fx.manifestOf(r.run!.manifestKey!);
    assert.deepEqual(
      m.schema.map((c) => c.name),
      ["id", "amount", "cust_name", "cust_region"],
    );
    const got = (await fx.rowsOf(m)).map((x) => [x.id, x.amount, x.cust_name, x.cust_region]);
    const [joined] = await fx.conn.query({
      sql: `SELECT CAST(o.id AS CHAR), CAST(o.amount AS CHAR), c.name, c.region FROM \`${fx.database}\`.orders o
              LEFT JOIN \`${fx.database}\`.customers c ON c.id = o.customer_id ORDER BY o.id`,
      rowsAsArray: true,
    });
    assert.equal(got.length, 3000);
    assert.deepEqual(got, joined);
    assert.ok(
      got.some((x) => x[2] === null),
      "orders without a customer get NULLs",
    );

    // The same export read directly: one lookup statement per batch, not one per row.
    const record = (await fx.deps.jobs.getExport(r.run!.exportId!))!;
    const source = await openExportSource(record, systemClock);
    try {
      const reader = source.read({ lo: null, hi: null, cursor: null, highWatermark: record.highWatermark }, { batchRows: 1000 });
      let rows = 0;
      for (let b = await reader.next(); b; b = await reader.next()) rows += b.length;
      assert.equal(rows, 3000);
      assert.deepEqual(source.enricher!.stats, { queries: 3, keys: 3 * 23 });
    } finally {
      await source.close();
    }
  });

  test("an enrichment key that is not unique is refused before anything runs", async () => {
    const spec = fx.spec("enrich-bad", "orders", {
      incremental: idMode,
      enrich: [{ table: "customers", key: { local: "note", remote: "region" }, columns: ["name"] }],
    } as never);
    const r = await tick(fx.deps, spec);
    assert.equal(r.action, "failed");
    assert.match(r.message, /enrich\[0\]\.key\.remote: .*customers\.region is not a single-column unique key/);
    assert.equal(r.run!.exportId, null);
  });
});
