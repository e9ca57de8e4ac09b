import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { SchemaDriftPolicy } from "../../config/incremental-spec.ts";
import { compareTypes, decideDrift, diffSchemas } from "../../controller/schedule/drift.ts";
import { tick } from "../../controller/schedule/scheduler.ts";
import type { SchemaColumn } from "../../controller/store/schedule-store.ts";
import { type IncrementalFixture, incrementalFixture } from "../helpers/incremental-fixture.ts";

// Schema drift: every kind of change under every policy (decideDrift, no I/O), then each policy end to end on
// MariaDB: an ALTER TABLE between two runs, detected before any row of the second run is written.

const cols = (...defs: [string, string][]): SchemaColumn[] =>
  defs.map(([name, type], i) => ({ name, type, nullable: true, position: i + 1 }));
const before1 = cols(["id", "bigint(20) unsigned"], ["amount", "decimal(10,2)"], ["note", "varchar(40)"], ["qty", "int(11)"]);
const names = (s: SchemaColumn[]) => s.map((c) => c.name);

const changes: Record<string, SchemaColumn[]> = {
  added: [...before1, ...cols(["id", "x"], ["a", "x"], ["b", "x"], ["c", "x"], ["extra", "varchar(10)"]).slice(4)],
  dropped: before1.filter((c) => c.name !== "note").map((c, i) => ({ ...c, position: i + 1 })),
  widened: before1.map((c) => (c.name === "qty" ? { ...c, type: "bigint(20)" } : c)),
  narrowed: before1.map((c) => (c.name === "note" ? { ...c, type: "varchar(20)" } : c)),
  renamed: before1.map((c) => (c.name === "note" ? { ...c, name: "comment" } : c)),
};

describe("decideDrift: each change under each policy", () => {
  const expected: Record<SchemaDriftPolicy, Record<string, string[] | null>> = {
    evolve: {
      added: ["id", "amount", "note", "qty", "extra"],
      dropped: ["id", "amount", "qty"],
      widened: names(before1),
      narrowed: names(before1),
      renamed: ["id", "amount", "comment", "qty"],
    },
    freeze: { added: null, dropped: null, widened: null, narrowed: null, renamed: null },
    "ignore-new-columns": { added: names(before1), dropped: null, widened: names(before1), narrowed: null, renamed: null },
  };
  for (const policy of ["evolve", "freeze", "ignore-new-columns"] as const) {
    for (const [kind, current] of Object.entries(changes)) {
      test(`${kind} under ${policy}`, () => {
        const d = decideDrift(policy, before1, names(before1), current, names(current));
        assert.deepEqual(
          d.report.changes.map((c) => c.kind),
          [kind],
        );
        assert.deepEqual(d.columns, expected[policy][kind]);
        if (d.columns === null) {
          assert.equal(d.report.action, "failed");
          assert.match(
            d.report.message,
            kind === "renamed" ? /note renamed to comment/ : new RegExp(`column (note|qty|extra) ${kind === "added" ? "added" : ""}`),
          );
        }
      });
    }
  }
  test("type comparisons", () => {
    assert.equal(compareTypes("int(11)", "bigint(20)"), "widened");
    assert.equal(compareTypes("int(11)", "int(10)"), "same");
    assert.equal(compareTypes("int(11)", "int(10) unsigned"), "type-changed");
    assert.equal(compareTypes("decimal(10,2)", "decimal(12,4)"), "widened");
    assert.equal(compareTypes("decimal(10,2)", "decimal(8,2)"), "narrowed");
    assert.equal(compareTypes("datetime(3)", "datetime(6)"), "widened");
    assert.equal(compareTypes("varchar(40)", "text"), "type-changed");
    assert.deepEqual(diffSchemas(before1, before1), []);
  });
});

describe("schema drift end to end", { concurrency: false }, () => {
  let fx: IncrementalFixture;
  before(async () => {
    fx = await incrementalFixture();
  });
  after(() => fx.cleanup());

  async function twoRuns(policy: SchemaDriftPolicy, alter: string, tag = "") {
    const table = `o_${policy.replace(/-/g, "_")}${tag}`;
    await fx.ordersTable(table);
    const spec = fx.spec(`drift-${policy}${tag.replace(/_/g, "-")}`, table, { schemaDrift: policy });
    await fx.insertOrders(table, 300);
    const first = await tick(fx.deps, spec);
    assert.equal(first.action, "committed", first.message);
    await fx.clock.advance(5 * 60_000);
    await fx.conn.query(`ALTER TABLE \`${fx.database}\`.\`${table}\` ${alter}`);
    await fx.insertOrders(table, 40);
    const second = await tick(fx.deps, spec);
    await fx.clock.advance(5 * 60_000);
    return { spec, first, second, table };
  }

  test("evolve: an added column appears, and the manifest and run record say so", async () => {
    const { second } = await twoRuns("evolve", "ADD COLUMN channel VARCHAR(10) NULL DEFAULT 'web' AFTER note");
    assert.equal(second.action, "committed", second.message);
    const m = await fx.manifestOf(second.run!.manifestKey!);
    const drift = (m.run as { schemaDrift: { action: string; changes: { kind: string; column: string }[] } }).schemaDrift;
    assert.equal(drift.action, "evolved");
    assert.deepEqual(drift.changes, [{ kind: "added", column: "channel", to: "varchar(10)" }]);
    assert.ok(m.schema.some((c) => c.name === "channel"));
    const rows = await fx.rowsOf(m);
    assert.equal(rows.length, 40);
    assert.ok(rows.every((r) => r.channel === "web"));
    assert.deepEqual(
      second.run!.drift.changes.map((c) => c.kind),
      ["added"],
    );
  });

  test("freeze: a renamed column fails the run before any row is written; the watermark stays", async () => {
    const { spec, first, second } = await twoRuns("freeze", "CHANGE COLUMN note remark VARCHAR(40) NULL");
    assert.equal(second.action, "failed");
    assert.match(second.message, /schemaDrift is freeze and the source changed: column note renamed to remark/);
    assert.equal(second.run!.exportId, null, "no export was created: nothing was written");
    const s = await fx.schedules.getSchedule(spec.name);
    assert.equal(s!.watermark, first.run!.hi);
    assert.equal(s!.currentRun, 2);
    // Retried with the same bounds at the next tick: still frozen.
    const again = await tick(fx.deps, spec);
    assert.equal(again.action, "failed");
    assert.deepEqual([again.run!.seq, again.run!.lo, again.run!.hi], [2, second.run!.lo, second.run!.hi]);
  });

  test("ignore-new-columns: the previous column list is exported; a dropped column fails the run", async () => {
    const { spec, second, table } = await twoRuns(
      "ignore-new-columns",
      "ADD COLUMN channel VARCHAR(10) NULL, MODIFY amount DECIMAL(14,2) NOT NULL",
    );
    assert.equal(second.action, "committed", second.message);
    const m = await fx.manifestOf(second.run!.manifestKey!);
    assert.deepEqual(
      m.schema.map((c) => c.name),
      ["id", "customer_id", "amount", "note", "updated_at"],
    );
    assert.deepEqual(second.run!.drift.changes.map((c) => `${c.kind} ${c.column}`).sort(), ["added channel", "widened amount"]);
    assert.equal(second.run!.drift.action, "ignored-new-columns");
    await fx.conn.query(`ALTER TABLE \`${fx.database}\`.\`${table}\` DROP COLUMN note`);
    await fx.insertOrders(table, 5);
    const third = await tick(fx.deps, spec);
    assert.equal(third.action, "failed");
    assert.match(third.message, /previously exported columns changed: column note dropped/);
  });

  test("evolve: narrowed and dropped columns are reported with the run", async () => {
    const { second } = await twoRuns("evolve", "MODIFY note VARCHAR(20) NULL, DROP COLUMN customer_id", "_2");
    assert.equal(second.action, "committed", second.message);
    assert.deepEqual(second.run!.drift.changes.map((c) => `${c.kind} ${c.column}`).sort(), ["dropped customer_id", "narrowed note"]);
    const m = await fx.manifestOf(second.run!.manifestKey!);
    assert.ok(!m.schema.some((c) => c.name === "customer_id"));
  });
});
