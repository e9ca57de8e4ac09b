import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Connection } from "mysql2/promise";
import { type ExportSpec, exportSpec } from "../../config/export-spec.ts";
import { diveQuery } from "../../controller/planner/boundaries.ts";
import { type ExportPlan, planExport } from "../../controller/planner/plan.ts";
import { systemClock } from "../../lib/clock.ts";
import { openSource, queryText } from "../../lib/mysql/connect.ts";
import { quoteIdent, rangePredicate } from "../../lib/mysql/key-sql.ts";
import { mysqlEnv, tempDatabase } from "../helpers/temp-mysql.ts";

// Planner against MariaDB: skewed keys must still give balanced partitions, measured with COUNT(*) per partition.

const MAX_U64 = "18446744073709551615";

describe("planner", () => {
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  let conn: Connection;
  const spec = (table: string, extra: Record<string, unknown> = {}, partitioning = { targetRows: 10_000 }): ExportSpec => {
    const env = mysqlEnv();
    return exportSpec.parse({
      kind: "Export",
      name: "planner-test",
      source: {
        host: env.host,
        port: env.port,
        user: env.user,
        password: { env: "SPOTFERRY_MYSQL_PASSWORD" },
        database: db.name,
        table,
        ...extra,
      },
      destination: { bucket: "bucket-1" },
      partitioning,
    });
  };

  /** Actual rows per partition, counted through the same range predicates an agent uses. */
  async function counts(table: string, plan: ExportPlan, filter = "1=1"): Promise<number[]> {
    const out: number[] = [];
    for (const p of plan.partitions) {
      const where = rangePredicate(plan.keyColumns, { lo: p.lo, hi: p.hi, highWatermark: plan.highWatermark });
      const rows = await queryText(conn, {
        sql: `SELECT COUNT(*) FROM ${quoteIdent(db.name)}.${quoteIdent(table)} WHERE ${where.sql} AND ${filter}`,
        params: where.params,
      });
      out.push(Number(rows[0]?.[0]));
    }
    return out;
  }
  const ratio = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return (sorted.at(-1) as number) / (sorted[Math.floor((sorted.length - 1) / 2)] as number);
  };
  const total = async (table: string) =>
    Number((await queryText(conn, { sql: `SELECT COUNT(*) FROM ${quoteIdent(table)}`, params: [] }))[0]?.[0]);

  before(async () => {
    db = await tempDatabase("planner");
    conn = await openSource(spec("x").source);
    await conn.query(`USE ${quoteIdent(db.name)}`);
    // Dense run, a dense cluster far away, huge gaps past 2^53, and ids up to 2^64-1.
    await conn.query("CREATE TABLE gaps (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB");
    await conn.query("INSERT INTO gaps SELECT seq, seq % 7 FROM seq_1_to_20000");
    await conn.query("INSERT INTO gaps SELECT 1000000000000 + seq, seq % 7 FROM seq_1_to_50000");
    await conn.query("INSERT INTO gaps SELECT 9007199254740992 + seq * 10000000000, seq % 7 FROM seq_1_to_30000");
    await conn.query(`INSERT INTO gaps SELECT ${MAX_U64} - seq, seq % 7 FROM seq_0_to_19999`);
    // Composite key, one tenant holding most rows.
    await conn.query(
      "CREATE TABLE calls (tenant INT NOT NULL, at DATETIME(6) NOT NULL, n BIGINT NOT NULL, body VARCHAR(20), PRIMARY KEY (tenant, at, n))",
    );
    await conn.query(
      "INSERT INTO calls SELECT 1, '2024-01-01' + INTERVAL (seq DIV 10) SECOND, CAST(seq AS SIGNED) - 5000000, 'x' FROM seq_1_to_60000",
    );
    await conn.query(
      "INSERT INTO calls SELECT 1 + seq DIV 20, '2024-06-01 12:00:00.123456', -CAST(seq AS SIGNED), 'y' FROM seq_20_to_20019",
    );
    await conn.query("CREATE TABLE nokey (a INT, b INT, KEY (a))");
    await conn.query("CREATE TABLE fkey (x DOUBLE NOT NULL PRIMARY KEY)");
    await conn.query(
      "CREATE TABLE acct (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, account VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL, n INT NOT NULL, UNIQUE KEY acct_n (account, n))",
    );
    await conn.query("INSERT INTO acct (account, n) SELECT CONCAT('ä-', seq % 3), seq FROM seq_1_to_3000");
  });
  after(async () => {
    await conn?.end();
    await db?.drop();
  });

  test("huge gaps, a dense cluster and ids up to 2^64-1 give balanced partitions", async () => {
    const plan = await planExport(spec("gaps"), { conn, clock: systemClock });
    assert.equal(plan.rows, 120_000);
    assert.deepEqual([plan.lowKey, plan.highWatermark, plan.keyIndex], [["1"], [MAX_U64], "PRIMARY"]);
    const c = await counts("gaps", plan);
    assert.equal(c.length, 12);
    assert.deepEqual(
      c,
      plan.partitions.map((p) => p.estimatedRows),
    );
    assert.equal(
      c.reduce((a, b) => a + b),
      await total("gaps"),
    );
    assert.ok(ratio(c) <= 1.5, `max/median ${ratio(c)}: ${c}`);
    assert.ok(
      plan.partitions.some((p) => p.lo && BigInt(p.lo[0] as string) > 2n ** 63n),
      "a boundary lies past 2^63",
    );
  });

  test("maxPartitions caps the count and keeps the balance", async () => {
    const plan = await planExport(spec("gaps", {}, { targetRows: 1000, maxPartitions: 7 } as never), { conn, clock: systemClock });
    const c = await counts("gaps", plan);
    assert.ok(c.length <= 7 && c.length >= 4, `${c.length} partitions`);
    assert.ok(ratio(c) <= 1.5, `max/median ${ratio(c)}: ${c}`);
  });

  test("bound keys compare exactly near 2^64 and still use the index", async () => {
    const exact = await queryText(conn, {
      sql: "SELECT COUNT(*) FROM gaps WHERE id > CAST(? AS UNSIGNED)",
      params: ["18446744073709551614"],
    });
    assert.equal(exact[0]?.[0], "1");
    // The failure the exact text prevents: the same key as a JS number has already become 2^64.
    const [viaNumber] = await conn.query({ sql: "SELECT COUNT(*) AS n FROM gaps WHERE id > ?", values: [Number("18446744073709551614")] });
    assert.equal(String((viaNumber as { n: unknown }[])[0]?.n), "0");
    const q = diveQuery(
      {
        database: db.name,
        table: "gaps",
        index: "PRIMARY",
        columns: [{ name: "id", type: "uint", sqlType: "bigint(20) unsigned" }],
        filter: null,
      },
      ["18446744073709531615"],
      100,
      [MAX_U64],
    );
    const [explain] = await conn.query({ sql: `EXPLAIN ${q.sql}`, values: q.params });
    assert.deepEqual(
      (explain as Record<string, unknown>[]).map((r) => [r.key, r.type]),
      [["PRIMARY", "range"]],
    );
    assert.deepEqual((await queryText(conn, q))[0], ["18446744073709531716"]);
    const filtered = await planExport(spec("gaps", { filter: [{ column: "id", op: ">=", value: "18446744073709551000" }] }), {
      conn,
      clock: systemClock,
    });
    assert.equal(filtered.rows, 616);
  });

  test("a composite key with one huge tenant is cut through the index", async () => {
    const plan = await planExport(spec("calls", {}, { targetRows: 5000 } as never), { conn, clock: systemClock });
    assert.deepEqual(
      plan.keyColumns.map((k) => [k.name, k.type]),
      [
        ["tenant", "int"],
        ["at", "datetime"],
        ["n", "int"],
      ],
    );
    const c = await counts("calls", plan);
    assert.equal(
      c.reduce((a, b) => a + b),
      80_000,
    );
    assert.ok(ratio(c) <= 1.5, `max/median ${ratio(c)}: ${c}`);
    const mid = plan.partitions[5]?.lo;
    assert.ok(mid);
    const q = diveQuery(
      { database: db.name, table: "calls", index: "PRIMARY", columns: plan.keyColumns, filter: null },
      mid,
      5000,
      plan.highWatermark ?? [],
    );
    const [explain] = await conn.query({ sql: `EXPLAIN ${q.sql}`, values: q.params });
    const row = (explain as Record<string, unknown>[])[0];
    assert.equal(row?.key, "PRIMARY");
    assert.equal(row?.type, "range");
    assert.doesNotMatch(String(row?.Extra), /filesort/);
  });

  test("a user-chosen partition key extends to its unique index", async () => {
    const plan = await planExport(spec("acct", { partitionKey: ["ACCOUNT"] }, { targetRows: 1000 } as never), { conn, clock: systemClock });
    assert.equal(plan.keyIndex, "acct_n");
    assert.deepEqual(
      plan.keyColumns.map((k) => [k.name, k.type, k.collation]),
      [
        ["account", "string", "utf8mb4_unicode_ci"],
        ["n", "int", undefined],
      ],
    );
    const c = await counts("acct", plan);
    assert.equal(
      c.reduce((a, b) => a + b),
      3000,
    );
    assert.ok(ratio(c) <= 1.5, `max/median ${ratio(c)}: ${c}`);
    await assert.rejects(planExport(spec("acct", { partitionKey: ["n"] }), { conn, clock: systemClock }), /ADD UNIQUE INDEX \(`n`\)/);
  });

  test("a table with no usable key is refused with what to add", async () => {
    await assert.rejects(
      planExport(spec("nokey"), { conn, clock: systemClock }),
      (err: Error) => err.name === "UserError" && /no primary key or unique index/.test(err.message) && /PRIMARY KEY/.test(err.message),
    );
    await assert.rejects(planExport(spec("fkey"), { conn, clock: systemClock }), /floating-point/);
    await assert.rejects(planExport(spec("gaps", { columns: ["id", "nope"] }), { conn, clock: systemClock }), /source\.columns\[1\]/);
    await assert.rejects(planExport(spec("missing"), { conn, clock: systemClock }), /not found/);
  });

  test("an indexed filter over at most targetRows rows plans one partition without walking the key index", async () => {
    await conn.query(
      "CREATE TABLE stamped (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, at DATETIME(6) NOT NULL, v INT NOT NULL, KEY at_idx (at)) ENGINE=InnoDB",
    );
    await conn.query("INSERT INTO stamped SELECT seq * 3, '2025-01-01' + INTERVAL seq SECOND, seq % 7 FROM seq_1_to_60000");
    const range = (lo: string, hi: string, column = "at") => [
      { column, op: ">", value: lo },
      { column, op: "<=", value: hi },
    ];
    // 500 rows (ids 3 * 40001 .. 3 * 40500), the shape of an incremental run's watermark range.
    const small = await planExport(spec("stamped", { filter: range("2025-01-01 11:06:40", "2025-01-01 11:15:00") }), {
      conn,
      clock: systemClock,
    });
    assert.equal(small.partitions.length, 1);
    assert.equal(small.dives, 0, "a capped count and MIN/MAX only: no dive through the key index");
    assert.deepEqual([small.lowKey, small.highWatermark, small.rows], [["120003"], ["121500"], 500]);
    assert.deepEqual(await counts("stamped", small, "at > '2025-01-01 11:06:40' AND at <= '2025-01-01 11:15:00'"), [500]);
    // The same range on an unindexed column is walked as before (the capped count could scan the table).
    const walked = await planExport(spec("stamped", { filter: [{ column: "v", op: "=", value: "3" }] }), { conn, clock: systemClock });
    assert.deepEqual([walked.partitions.length, walked.rows], [1, 8572]);
    assert.ok(walked.dives > 0);
    // More rows than targetRows: the walk cuts them as usual.
    const big = await planExport(spec("stamped", { filter: range("2025-01-01 00:00:00", "2025-01-01 08:00:00") }), {
      conn,
      clock: systemClock,
    });
    assert.deepEqual(await counts("stamped", big, "at <= '2025-01-01 08:00:00'"), [10_000, 10_000, 8_800]);
    // A composite key whose leading column is filtered: edges ordered as tuples.
    const tenants = [
      { column: "tenant", op: ">=", value: "500" },
      { column: "tenant", op: "<", value: "510" },
    ];
    const comp = await planExport(spec("calls", { filter: tenants }), { conn, clock: systemClock });
    assert.equal(comp.partitions.length, 1);
    assert.equal(comp.dives, 0);
    assert.equal(comp.lowKey?.[0], "500");
    assert.equal(comp.highWatermark?.[0], "509");
    assert.deepEqual(await counts("calls", comp, "tenant BETWEEN 500 AND 509"), [200]);
  });

  test("an empty table plans no partitions", async () => {
    await conn.query("CREATE TABLE empty_t (id INT NOT NULL PRIMARY KEY)");
    const plan = await planExport(spec("empty_t"), { conn, clock: systemClock });
    assert.deepEqual([plan.partitions.length, plan.highWatermark, plan.rows], [0, null, 0]);
  });
});
