import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Connection } from "mysql2/promise";
import { type ExportSpec, exportSpec } from "../../config/export-spec.ts";
import { type ExportPlan, planExport } from "../../controller/planner/plan.ts";
import { systemClock } from "../../lib/clock.ts";
import { openSource, queryText } from "../../lib/mysql/connect.ts";
import { quoteIdent, rangePredicate } from "../../lib/mysql/key-sql.ts";
import { mysqlEnv, tempDatabase } from "../helpers/temp-mysql.ts";

// The estimating planner (controller/planner/estimate.ts) against MariaDB: boundaries from EXPLAIN range estimates,
// checked with a COUNT(*) per planned range. exactWalkMaxRows: 0 makes these small tables take the estimating path.

const MAX_U64 = "18446744073709551615";

describe("planner from estimates", () => {
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  let conn: Connection;
  const spec = (table: string, targetRows: number, extra: Record<string, unknown> = {}): ExportSpec => {
    const env = mysqlEnv();
    return exportSpec.parse({
      kind: "Export",
      name: "planner-estimate-test",
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
      partitioning: { targetRows },
    });
  };
  const plan = (table: string, targetRows: number, extra: Record<string, unknown> = {}) =>
    planExport(spec(table, targetRows, extra), { conn, clock: systemClock, exactWalkMaxRows: 0 });

  async function sizes(table: string, p: ExportPlan): Promise<number[]> {
    const out: number[] = [];
    for (const part of p.partitions) {
      const where = rangePredicate(p.keyColumns, { lo: part.lo, hi: part.hi, highWatermark: p.highWatermark });
      const [row] = await queryText(conn, { sql: `SELECT COUNT(*) FROM ${quoteIdent(table)} WHERE ${where.sql}`, params: where.params });
      out.push(Number(row?.[0]));
    }
    return out;
  }
  const spread = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const median = sorted[Math.floor((sorted.length - 1) / 2)] as number;
    return { max: (sorted.at(-1) as number) / median, min: (sorted[0] as number) / median };
  };
  const total = async (table: string) =>
    Number((await queryText(conn, { sql: `SELECT COUNT(*) FROM ${quoteIdent(table)}`, params: [] }))[0]?.[0]);

  before(async () => {
    db = await tempDatabase("planest");
    conn = await openSource(spec("x", 1000).source);
    await conn.query(`USE ${quoteIdent(db.name)}`);
    // 200k rows: a dense run, a sparse run with a dense cluster inside, ids past 2^53, a cluster up to 2^64-1.
    await conn.query("CREATE TABLE skew (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, pad VARCHAR(60) NOT NULL) ENGINE=InnoDB");
    const pad = "REPEAT('x', 20 + seq % 40)";
    await conn.query(`INSERT INTO skew SELECT seq, ${pad} FROM seq_1_to_70000`);
    await conn.query(`INSERT INTO skew SELECT 1000000000000 + seq * 1000, ${pad} FROM seq_1_to_40000`);
    await conn.query(`INSERT INTO skew SELECT 1000000000000 + 40000000 + seq, ${pad} FROM seq_1_to_40000`);
    await conn.query(`INSERT INTO skew SELECT 9007199254740992 + seq * 7, ${pad} FROM seq_1_to_25000`);
    await conn.query(`INSERT INTO skew SELECT ${MAX_U64} - seq, ${pad} FROM seq_0_to_24999`);
    // Composite key: many tenants of uneven sizes (estimated), and one tenant holding most rows (walked).
    await conn.query("CREATE TABLE tenants (tenant INT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (tenant, n)) ENGINE=InnoDB");
    await conn.query("INSERT INTO tenants SELECT CAST(seq DIV 97 AS SIGNED) - 5000, seq FROM seq_1_to_120000");
    await conn.query("CREATE TABLE heavy (tenant INT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (tenant, n)) ENGINE=InnoDB");
    await conn.query("INSERT INTO heavy SELECT IF(seq <= 60000, 1, seq), seq FROM seq_1_to_80000");
    await conn.query(
      "CREATE TABLE heavy_s (tenant INT NOT NULL, name VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL, PRIMARY KEY (tenant, name)) ENGINE=InnoDB",
    );
    await conn.query("INSERT INTO heavy_s SELECT IF(seq <= 60000, 1, seq), CONCAT(IF(seq % 2, 'Ä-', 'a-'), seq) FROM seq_1_to_80000");
    // DATETIME(3) leading a composite key: a burst of 60k rows within a minute, 40k spread over 30 years.
    await conn.query("CREATE TABLE events (at DATETIME(3) NOT NULL, id INT NOT NULL, PRIMARY KEY (at, id)) ENGINE=InnoDB");
    await conn.query("INSERT INTO events SELECT '2024-06-01 12:00:00' + INTERVAL seq * 1000 MICROSECOND, seq FROM seq_1_to_60000");
    await conn.query("INSERT INTO events SELECT '1990-01-01' + INTERVAL seq * 23671 SECOND, seq FROM seq_1_to_40000");
    await conn.query(
      "CREATE TABLE acct (account VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL PRIMARY KEY, n INT NOT NULL)",
    );
    await conn.query("INSERT INTO acct SELECT CONCAT(IF(seq % 2, 'Ä-', 'a-'), seq), seq FROM seq_1_to_30000");
  });
  after(async () => {
    await conn?.end();
    await db?.drop();
  });

  test("a skewed BIGINT UNSIGNED key is cut from estimates within 1.5x of the median, every key in one partition", async () => {
    const p = await plan("skew", 10_000);
    assert.equal(p.estimated, true);
    assert.ok(p.probes > 0);
    assert.deepEqual([p.lowKey, p.highWatermark], [["1"], [MAX_U64]]);
    const c = await sizes("skew", p);
    assert.ok(c.length >= 15 && c.length <= 25, `${c.length} partitions`);
    assert.equal(
      c.reduce((a, b) => a + b),
      await total("skew"),
    );
    const s = spread(c);
    assert.ok(s.max <= 1.5 && s.min >= 1 / 1.5, `max/median ${s.max}, min/median ${s.min}: ${c}`);
    // The estimate of rows is the optimizer's, within tens of percent of the truth; per partition it is recorded.
    assert.ok(Math.abs(p.rows - 200_000) < 60_000, `estimated ${p.rows}`);
    assert.ok(p.partitions.every((x) => x.estimatedRows > 0));
    assert.ok(
      p.partitions.some((x) => x.lo && BigInt(x.lo[0] as string) > 2n ** 63n),
      "a boundary lies past 2^63",
    );
    // Boundaries are real keys of the table.
    for (const x of p.partitions.slice(1)) {
      const [row] = await queryText(conn, { sql: "SELECT COUNT(*) FROM skew WHERE id = CAST(? AS UNSIGNED)", params: [x.lo?.[0] ?? ""] });
      assert.equal(row?.[0], "1", `boundary ${x.lo} is a key`);
    }
  });

  test("a composite key with an integer leading column is estimated, a tenant holding most rows included", async () => {
    const p = await plan("tenants", 10_000);
    assert.equal(p.estimated, true);
    const c = await sizes("tenants", p);
    assert.equal(
      c.reduce((a, b) => a + b),
      120_000,
    );
    const s = spread(c);
    assert.ok(s.max <= 1.5 && s.min >= 1 / 1.5, `max/median ${s.max}, min/median ${s.min}: ${c}`);
    assert.ok(p.partitions.slice(1).every((x) => x.lo?.length === 2));
    // Tenant 1 holds 60k of 80k rows: it is bisected on its second column, under tenant = 1.
    const h = await plan("heavy", 10_000);
    assert.equal(h.estimated, true);
    const hc = await sizes("heavy", h);
    assert.equal(
      hc.reduce((a, b) => a + b),
      80_000,
    );
    const hs = spread(hc);
    assert.ok(hs.max <= 1.5 && hs.min >= 1 / 1.5, `max/median ${hs.max}, min/median ${hs.min}: ${hc}`);
    assert.ok(h.partitions.filter((x) => x.lo?.[0] === "1").length >= 4, "several boundaries inside tenant 1");
    // The same with a case-insensitive string second column: tenant 1 is counted and cut by dives into it.
    const hsPlan = await plan("heavy_s", 10_000);
    assert.equal(hsPlan.estimated, true);
    const hsc = await sizes("heavy_s", hsPlan);
    assert.equal(
      hsc.reduce((a, b) => a + b),
      80_000,
    );
    const hss = spread(hsc);
    // The 20k rows around tenant 1 are counted as well, so the table estimate's error does not land on their partitions.
    assert.ok(hss.max <= 1.1 && hss.min >= 1 / 1.1, `max/median ${hss.max}, min/median ${hss.min}: ${hsc}`);
    assert.ok(hsPlan.partitions.filter((x) => x.lo?.[0] === "1").length >= 4, "several boundaries inside tenant 1");
  });

  test("a DATETIME(3) leading column is bisected as milliseconds", async () => {
    const p = await plan("events", 10_000);
    assert.equal(p.estimated, true);
    const c = await sizes("events", p);
    assert.equal(
      c.reduce((a, b) => a + b),
      100_000,
    );
    const s = spread(c);
    assert.ok(s.max <= 1.5 && s.min >= 1 / 1.5, `max/median ${s.max}, min/median ${s.min}: ${c}`);
    assert.ok(p.partitions.some((x) => x.lo?.[0]?.startsWith("2024-06-01 12:00:")));
  });

  test("a case-insensitive string key is walked exactly, and small tables keep the walk by default", async () => {
    const p = await plan("acct", 5_000);
    assert.equal(p.estimated, false);
    assert.deepEqual(await sizes("acct", p), [5_000, 5_000, 5_000, 5_000, 5_000, 5_000]);
    const small = await planExport(spec("skew", 10_000), { conn, clock: systemClock });
    assert.equal(small.estimated, false);
    assert.equal(small.rows, 200_000);
  });
});
