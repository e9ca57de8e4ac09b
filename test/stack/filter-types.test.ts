import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import type { Connection } from "mysql2/promise";
import { type ExportSpec, exportSpec, type FilterPredicate } from "../../config/export-spec.ts";
import { planExport } from "../../controller/planner/plan.ts";
import { systemClock } from "../../lib/clock.ts";
import { LAYOUT_PK } from "../../lib/dynamo/keys.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { repoRoot } from "../../lib/paths.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";
import { mysqlEnv, tempDatabase } from "../helpers/temp-mysql.ts";

// Filter values against MariaDB's own types: what the lenient CAST would have rewritten is refused at plan time with
// one line naming the field, and nothing reaches the state table; what is valid selects exactly the rows it names.

const exec = promisify(execFile);
const U64 = "18446744073709551615";

describe("filter values are parsed as their column's type", () => {
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  let state: Awaited<ReturnType<typeof tempStateTable>>;
  let conn: Connection;
  let dir: string;
  const source = (filter: FilterPredicate[], table = "t") => {
    const { host, port, user } = mysqlEnv();
    return { host, port, user, password: { env: "SPOTFERRY_MYSQL_PASSWORD" }, database: db.name, table, filter };
  };
  const spec = (filter: FilterPredicate[], table?: string): ExportSpec =>
    exportSpec.parse({ kind: "Export", name: "filter-types", source: source(filter, table), destination: { bucket: "filter-types-out" } });
  const plan = (filter: FilterPredicate[], table?: string) => planExport(spec(filter, table), { conn, clock: systemClock });
  const refusal = (filter: FilterPredicate[], table?: string) =>
    plan(filter, table).then(
      () => assert.fail(`accepted ${JSON.stringify(filter)}`),
      (e: Error) => {
        assert.equal(e.name, "UserError", e.stack);
        return e.message;
      },
    );

  before(async () => {
    [db, state] = await Promise.all([tempDatabase("filtertypes"), tempStateTable("filtertypes")]);
    dir = mkdtempSync(join(tmpdir(), "spotferry-filter-types-"));
    await db.conn.query(`CREATE TABLE t (
      id BIGINT UNSIGNED PRIMARY KEY, ts DATETIME, dt3 DATETIME(3), amount DECIMAL(6,2), st ENUM('new','paid'),
      tags SET('r','w','x'), tm TIME(2), y YEAR, flag BOOLEAN, code VARCHAR(5) CHARACTER SET latin1, bin VARBINARY(4),
      b BIT(5), KEY (ts), KEY (tags))`);
    await db.conn.query(
      `INSERT INTO t VALUES
        (1, '2021-01-01 00:00:00', '2021-01-01 00:00:00.500', 1.50, 'new', 'r,w', '10:00:00.50', 2021, 1, 'a?', 0xCAFE, 5),
        (3, '2021-06-01 12:00:00', '2021-06-01 12:00:00.000', 2.25, 'paid', 'x', '-01:00:00', 2022, 0, 'b', 0x00, 31),
        (${U64}, '2022-01-01 00:00:00', NULL, 9999.99, 'paid', '', '838:59:59', 2155, 1, 'c', NULL, 0)`,
    );
    conn = await openSource(spec([]).source);
  });
  after(async () => {
    await conn?.end();
    await Promise.all([db?.drop(), state?.drop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test("the issue's cases are refused by `export plan` in one line, exit 2, and the state table stays empty", async () => {
    const cases: [FilterPredicate, string][] = [
      [{ column: "id", op: ">", value: -1 }, `source.filter[0].value: -1 is out of range for id BIGINT UNSIGNED (0..${U64})`],
      [{ column: "id", op: ">=", value: "abc" }, `source.filter[0].value: "abc" is not an integer for id BIGINT UNSIGNED (0..${U64})`],
      [{ column: "id", op: "=", value: "3 OR 1=1" }, `source.filter[0].value: "3 OR 1=1" is not an integer for id BIGINT UNSIGNED`],
      [{ column: "ts", op: ">=", value: "2021-13-45 99:00:00" }, `source.filter[0].value: "2021-13-45 99:00:00" is not a calendar date`],
    ];
    for (const [i, [predicate, line]] of cases.entries()) {
      const file = join(dir, `case-${i}.json`);
      writeFileSync(
        file,
        JSON.stringify({ kind: "Export", name: `bad-${i}`, source: source([predicate]), destination: { bucket: "filter-types-out" } }),
      );
      const cli = [join(repoRoot, "bin", "spotferry.mjs"), "export", "plan", "--config", file, "--state-table", state.tableName];
      const r = await exec(process.execPath, cli, { env: process.env }).then(
        (ok) => ({ code: 0, stderr: ok.stderr }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
      assert.equal(r.code, 2, `${JSON.stringify(predicate)}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.ok(r.stderr.startsWith(`error: ${line}`), r.stderr);
    }
    // The state table holds nothing but its layout marker: no export, partition or queue item.
    const scan = await state.client.send(new ScanCommand({ TableName: state.tableName, ConsistentRead: true }));
    assert.deepEqual(
      (scan.Items ?? []).map((i) => i.pk?.S).filter((pk) => pk !== LAYOUT_PK),
      [],
      "no item written",
    );
  });

  test("values of every type the lenient CAST would rewrite are refused, naming the field, value and type", async () => {
    const refused: [FilterPredicate[], RegExp][] = [
      [
        [{ column: "dt3", op: "=", value: "2021-01-01 00:00:00.5004" }],
        /^source\.filter\[0\]\.value: .* more than the 3 kept for dt3 DATETIME\(3\)$/,
      ],
      [[{ column: "amount", op: ">", value: "1.499" }], /more than the 2 kept for amount DECIMAL\(6,2\)$/],
      [[{ column: "amount", op: "<", value: 10000 }], /10000 is out of range for amount DECIMAL\(6,2\) \(-9999\.99\.\.9999\.99\)$/],
      [
        [{ column: "st", op: "in", values: ["new", "shipped"] }],
        /^source\.filter\[0\]\.values\[1\]: "shipped" is not a member for st ENUM/,
      ],
      [[{ column: "tags", op: "=", value: "r,q" }], /"q", which is not a member for tags SET\('r','w','x'\)/],
      [[{ column: "tm", op: ">", value: "839:00:00" }], /is out of range for tm TIME\(2\)/],
      [[{ column: "y", op: "=", value: 1900 }], /1900 is out of range for y YEAR/],
      [[{ column: "flag", op: "=", value: 128 }], /128 is out of range for flag TINYINT\(1\) \(-128\.\.127\)/],
      [[{ column: "code", op: "=", value: "a😀" }], /"😀", which character set latin1 cannot hold/],
      [[{ column: "code", op: "=", value: "abcdef" }], /is 6 characters long, more than the 5 for code VARCHAR\(5\)/],
      [[{ column: "bin", op: "=", value: "cafe" }], /"cafe" is not 0x and hex digits for bin VARBINARY\(4\)/],
      [[{ column: "b", op: "=", value: 32 }], /32 is out of range for b BIT\(5\) \(0\.\.31\)/],
      [
        [{ column: "ts", op: "between", values: ["2021-01-01", "2021-02-29"] }],
        /^source\.filter\[0\]\.values\[1\]: "2021-02-29" is not a calendar date/,
      ],
      [[{ column: "id", op: "=", value: null }], /null matches no row in a comparison for id BIGINT UNSIGNED: use op "is null"/],
    ];
    for (const [filter, expected] of refused) assert.match(await refusal(filter), expected);
  });

  test("valid values bound as canonical text select exactly the rows they name", async () => {
    const rows = async (filter: FilterPredicate[]) => (await plan(filter)).rows;
    assert.equal(await rows([{ column: "id", op: ">", value: "18446744073709551614" }]), 1, "exact past 2^53");
    assert.equal(await rows([{ column: "id", op: "in", values: [1, "0003"] }]), 2);
    assert.equal(await rows([{ column: "tags", op: "=", value: "w,r" }]), 1, "a SET's members in declared order");
    assert.equal(await rows([{ column: "dt3", op: "=", value: "2021-01-01 00:00:00.5" }]), 1);
    assert.equal(await rows([{ column: "ts", op: ">=", value: "2021-06-01T12:00:00" }]), 2);
    assert.equal(await rows([{ column: "amount", op: "=", value: 1.5 }]), 1);
    assert.equal(await rows([{ column: "tm", op: "<", value: "-00:30" }]), 1);
    assert.equal(await rows([{ column: "st", op: "=", value: "PAID" }]), 2, "a _ci collation's spelling of a member");
    assert.equal(await rows([{ column: "flag", op: "=", value: true }]), 2);
    assert.equal(await rows([{ column: "bin", op: "=", value: "0xcafe" }]), 1);
    assert.equal(await rows([{ column: "b", op: ">=", value: 5 }]), 2);
    assert.equal(await rows([{ column: "y", op: "between", values: [2021, "2022"] }]), 2);
    assert.equal(await rows([{ column: "code", op: "=", value: "b" }]), 1);
  });

  test("a table name with an emoji is not found, in one line", async () => {
    assert.equal(
      await refusal([], "calls😀"),
      `table ${db.name}.calls😀 not found (check source.database and source.table, and the user's grants)`,
    );
  });
});
