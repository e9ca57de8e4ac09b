/**
 * NDJSON and CSV written from the rows' wire bytes (lib/output/encode/text-wire.ts) are byte for byte what the
 * driver's values give, on the values whose server text differs from the driver's rendering: ZEROFILL integers
 * (64-bit ones on both sides of 2^53), FLOAT/DOUBLE in exponent form, text needing CSV quotes or JSON escapes, empty
 * strings and bytes, zero dates, YEAR 0000, BIT(64). Also: a bad value names its column and row.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import mysql from "mysql2/promise";
import {
  columnsFromFields,
  createEncoder,
  MYSQL_SOURCE_OPTIONS,
  type OutputFormat,
  type RowBatch,
  SESSION_INIT_SQL,
} from "../../lib/output/encode/index.ts";
import { mysqlEnv, tempDatabase } from "../helpers/temp-mysql.ts";
import { wireRows } from "../helpers/wire-rows.ts";

const COLUMNS = [
  "k INT PRIMARY KEY",
  "z5 INT(5) ZEROFILL",
  "zs SMALLINT(4) UNSIGNED ZEROFILL",
  "z20 BIGINT(20) UNSIGNED ZEROFILL",
  "i BIGINT",
  "d DOUBLE",
  "f FLOAT",
  "y YEAR",
  "dt DATETIME",
  "ts TIMESTAMP NULL DEFAULT NULL",
  "t TEXT CHARACTER SET utf8mb4",
  "b VARBINARY(8)",
  "bits BIT(64)",
  "dz DECIMAL(8,3) ZEROFILL",
];
const ROWS = [
  `1, 42, 7, 42, -9223372036854775808, 1e20, 1e-10, 0, '0000-00-00 00:00:00', '2024-02-29 23:59:59', 'plain', '', b'1', 1.5`,
  `2, 0, 0, 9007199254740993, 9223372036854775807, -1.5e-7, 3.14159, 2024, '2024-01-02 03:04:05', NULL, 'a "quoted", comma\nnew line\r\ttab \\\\ back', x'00ff', x'ffffffffffffffff', -2.25`,
  `3, NULL, NULL, 18446744073709551615, 0, 1.7976931348623157e308, -0, 1901, NULL, '1970-01-01 00:00:01', 'control \x01 ünïcödé 🙂', NULL, NULL, NULL`,
  `4, 99999, 9999, 0, -1, 0.1, 123456, 2155, '9999-12-31 23:59:59', '2038-01-19 03:14:07', '', x'', b'0', 0`,
];

async function encode(format: OutputFormat, columns: ReturnType<typeof columnsFromFields>, rows: RowBatch) {
  const enc = createEncoder(format, columns, { compression: "none" });
  const chunks: Buffer[] = [];
  const reading = (async () => {
    for await (const b of enc.output) chunks.push(b as Buffer);
  })();
  await enc.write(rows.slice(0, 2));
  await enc.write(rows.slice(2));
  const stats = await enc.end();
  await reading;
  return { text: Buffer.concat(chunks).toString("utf8"), stats };
}

describe("NDJSON and CSV from wire bytes", () => {
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  let conn: mysql.Connection;
  before(async () => {
    db = await tempDatabase("text_wire");
    await db.conn.query("SET SESSION sql_mode = ''");
    await db.conn.query(SESSION_INIT_SQL);
    await db.conn.query(`CREATE TABLE t (${COLUMNS.join(", ")}) DEFAULT CHARSET utf8mb4`);
    for (const r of ROWS) await db.conn.query(`INSERT INTO t VALUES (${r})`);
    conn = await mysql.createConnection({ ...mysqlEnv(), database: db.name, ...MYSQL_SOURCE_OPTIONS });
    await conn.query(SESSION_INIT_SQL);
  });
  after(async () => {
    await conn?.end();
    await db?.drop();
  });

  test("equal the driver's values, byte for byte, for every value whose text differs from its rendering", async () => {
    const sql = "SELECT * FROM t ORDER BY k";
    const [rows, fields] = await conn.query({ sql });
    const columns = columnsFromFields(fields as never);
    const [wire] = await wireRows(conn, sql, columns.length, 1000);
    assert.ok(wire);
    for (const format of ["ndjson", "csv"] as const) {
      const viaValues = await encode(format, columns, rows as unknown[][]);
      const viaBytes = await encode(format, columns, wire);
      assert.equal(viaBytes.text, viaValues.text, format);
      assert.deepEqual(viaBytes.stats, viaValues.stats, `${format}: nulls and zero dates counted alike`);
    }
    const lines = (await encode("ndjson", columns, wire)).text.trim().split("\n");
    const first = JSON.parse(lines[0] as string);
    assert.equal(first.z5, 42, "ZEROFILL digits lose their padding, as the driver's number does");
    assert.equal(first.dt, null, "zero date");
    assert.equal(first.ts, "2024-02-29T23:59:59Z");
    assert.equal(first.d, 1e20);
    assert.equal(JSON.parse(lines[1] as string).t, 'a "quoted", comma\nnew line\r\ttab \\ back');
    assert.equal(JSON.parse(lines[2] as string).z20, "18446744073709551615");
    assert.equal(JSON.parse(lines[1] as string).z20, "00009007199254740993", "an unsafe ZEROFILL value keeps its text, as mysql2 does");
  });

  test("rows of plain fields (copied whole, headers turned into commas) equal the driver's values too", async () => {
    await db.conn.query(
      "CREATE TABLE plain (k BIGINT UNSIGNED PRIMARY KEY, n INT, d DECIMAL(10,2), day DATE, at DATETIME(3), s VARCHAR(300), e ENUM('x','y'), tail INT)",
    );
    await db.conn.query(`INSERT INTO plain VALUES
      (18446744073709551615, -7, -12.50, '2024-02-29', '2024-01-02 03:04:05.678', 'ünïcödé 🙂', 'x', 1),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
      (3, 0, 0.00, '1970-01-01', '1970-01-01 00:00:00.000', REPEAT('a', 260), 'y', NULL),
      (4, 5, 1.00, '0000-00-00', '2024-01-01 00:00:00.000', 'needs, quotes', 'y', 2)`);
    // As the source reads them: the key's text appended after the exported columns, which the encoder leaves out.
    const sql = "SELECT *, CAST(k AS CHAR) FROM plain ORDER BY k";
    const [rows, fields] = await conn.query({ sql });
    const columns = columnsFromFields(fields as never).slice(0, -1);
    const [wire] = await wireRows(conn, sql, columns.length + 1, 1000);
    assert.ok(wire);
    const values = (rows as unknown[][]).map((r) => r.slice(0, -1));
    const viaValues = await encode("csv", columns, values);
    const viaBytes = await encode("csv", columns, wire);
    assert.equal(viaBytes.text, viaValues.text);
    assert.deepEqual(viaBytes.stats, viaValues.stats);
    assert.match(viaBytes.text, /\n2,,,,,,,\n/, "a row of NULLs after its key");
    assert.ok(!viaBytes.text.includes("18446744073709551615\n"), "the appended key's text is not exported");
  });

  test("a bad value names its column and row", async () => {
    await db.conn.query("CREATE TABLE bad (k INT PRIMARY KEY, dt DATETIME)");
    await db.conn.query("INSERT INTO bad VALUES (1, '2024-01-01 00:00:00')");
    const sql = "SELECT k, CAST('2024-13-40 00:00:00' AS CHAR) AS dt FROM bad";
    const [, fields] = await conn.query({ sql: "SELECT * FROM bad" });
    const columns = columnsFromFields(fields as never);
    const [wire] = await wireRows(conn, sql, columns.length, 1000);
    const enc = createEncoder("ndjson", columns, { compression: "none" });
    enc.output.on("error", () => {});
    enc.output.resume();
    await assert.rejects(enc.write(wire as RowBatch), /encoding column dt \(DATETIME\) of row 0/);
  });
});
