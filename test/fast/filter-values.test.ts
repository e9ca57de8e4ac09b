import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type FilterValue, filterValueText, membersOf, type ValueColumn } from "../../lib/mysql/filter-values.ts";
import { filterSql, type TableInfo } from "../../lib/mysql/schema.ts";

// Filter values parsed as the column's type, exactly: each row is a column type, a value, and either the canonical
// text bound for it or the refusal (a fragment of the one line). Types are written as information_schema has them.

const col = (columnType: string, extra: Partial<ValueColumn> = {}): ValueColumn => {
  const dataType = /^[a-z]+/.exec(columnType)?.[0] as string;
  const text = /char|text|enum|set/.test(dataType);
  return {
    name: "c",
    dataType,
    columnType,
    charset: text ? "utf8mb4" : null,
    collation: text ? "utf8mb4_general_ci" : null,
    ...(dataType === "enum" || dataType === "set" ? { members: membersOf(columnType) } : {}),
    ...extra,
  };
};

type Case = [type: string, value: FilterValue, expect: { ok: string } | { refused: string }, extra?: Partial<ValueColumn>];
const ok = (s: string) => ({ ok: s });
const no = (s: string) => ({ refused: s });

const U64 = "18446744073709551615";
const cases: Case[] = [
  // integers: signed and unsigned ranges, strings past 2^53, nothing but digits
  ["bigint(20) unsigned", -1, no(`-1 is out of range for c BIGINT UNSIGNED (0..${U64})`)],
  ["bigint(20) unsigned", "abc", no(`"abc" is not an integer for c BIGINT UNSIGNED`)],
  ["bigint(20) unsigned", "3 OR 1=1", no(`"3 OR 1=1" is not an integer`)],
  ["bigint(20) unsigned", " 3", no("is not an integer")],
  ["bigint(20) unsigned", "3.0", no("is not an integer")],
  ["bigint(20) unsigned", 3.5, no("is not an integer")],
  ["bigint(20) unsigned", U64, ok(U64)],
  ["bigint(20) unsigned", "18446744073709551616", no("is out of range")],
  ["bigint(20) unsigned", "+0007", ok("7")],
  ["bigint(20) unsigned", 2 ** 53, no("is past 2^53")],
  ["bigint(20) unsigned", Number.MAX_SAFE_INTEGER, ok("9007199254740991")],
  ["bigint(20)", "-9223372036854775808", ok("-9223372036854775808")],
  ["bigint(20)", "-9223372036854775809", no("(-9223372036854775808..9223372036854775807)")],
  ["bigint(20)", "-0", ok("0")],
  ["tinyint(4)", 127, ok("127")],
  ["tinyint(4)", 128, no("is out of range for c TINYINT (-128..127)")],
  ["tinyint(3) unsigned", 255, ok("255")],
  ["tinyint(3) unsigned", 256, no("is out of range")],
  ["smallint(6)", -32768, ok("-32768")],
  ["smallint(6)", 32768, no("is out of range")],
  ["mediumint(8) unsigned", 16777215, ok("16777215")],
  ["mediumint(8) unsigned", 16777216, no("is out of range")],
  ["int(11)", -2147483648, ok("-2147483648")],
  ["int(11)", 2147483648, no("is out of range for c INT (-2147483648..2147483647)")],
  ["int(10) unsigned", 4294967295, ok("4294967295")],
  ["int(11)", true, no("true is a boolean")],
  ["int(11)", null, no(`null matches no row in a comparison for c INT: use op "is null"`)],
  // BOOLEAN is TINYINT(1)
  ["tinyint(1)", true, ok("1")],
  ["tinyint(1)", false, ok("0")],
  ["tinyint(1)", 1, ok("1")],
  ["tinyint(1)", "yes", no("is not an integer for c TINYINT(1)")],
  // YEAR, BIT
  ["year(4)", 2155, ok("2155")],
  ["year(4)", "1901", ok("1901")],
  ["year(4)", 0, ok("0")],
  ["year(4)", 1900, no("is out of range for c YEAR(4) (1901..2155, or 0)")],
  ["year(4)", 2156, no("is out of range")],
  ["bit(5)", 31, ok("31")],
  ["bit(5)", 32, no("is out of range for c BIT(5) (0..31)")],
  ["bit(1)", true, ok("1")],
  ["bit(64)", U64, ok(U64)],
  // DECIMAL(p,s): precision and scale; normalised to s digits after the point
  ["decimal(6,2)", "9999.99", ok("9999.99")],
  ["decimal(6,2)", "-9999.99", ok("-9999.99")],
  ["decimal(6,2)", "10000", no("is out of range for c DECIMAL(6,2) (-9999.99..9999.99)")],
  ["decimal(6,2)", "1.234", no("has 3 digits after the point, more than the 2 kept")],
  ["decimal(6,2)", "1.230", ok("1.23")],
  ["decimal(6,2)", 1.5, ok("1.50")],
  ["decimal(6,2)", ".5", ok("0.50")],
  ["decimal(6,2)", "007.", ok("7.00")],
  ["decimal(6,2)", "-0.00", ok("0.00")],
  ["decimal(6,2)", "1e3", no("is not a decimal number")],
  ["decimal(6,2)", 1e21, no("is not a decimal number")],
  ["decimal(6,2)", ".", no("is not a decimal number")],
  ["decimal(6,2) unsigned", "-1", no("is out of range for c DECIMAL(6,2) UNSIGNED (0..9999.99)")],
  ["decimal(65,0)", "9".repeat(65), ok("9".repeat(65))],
  ["decimal(65,0)", "1".repeat(66), no("is out of range")],
  // FLOAT / DOUBLE: finite numbers, as the shortest text that reads back as the same double
  ["double", 0.1, ok("0.1")],
  ["double", "1e300", ok("1e+300")],
  ["double", "1e309", no("is out of range")],
  ["double", "NaN", no("is not a number")],
  ["double", "0x10", no("is not a number")],
  ["float", "1e39", no("is out of range for c FLOAT")],
  ["double unsigned", -1, no("is out of range")],
  // DATE, DATETIME(fsp), TIMESTAMP: calendar values in canonical text
  ["date", "2024-02-29", ok("2024-02-29")],
  ["date", "2023-02-29", no('"2023-02-29" is not a calendar date for c DATE')],
  ["date", "1900-02-29", no("is not a calendar date")],
  ["date", "2000-02-29", ok("2000-02-29")],
  ["date", "2021-13-01", no("is not a calendar date")],
  ["date", "2021-04-31", no("is not a calendar date")],
  ["date", "0000-00-00", no("is the zero date")],
  ["date", "2021-1-5", no("is not a date")],
  ["date", "2021-01-05 00:00:00", no("is not a date")],
  ["date", 20210105, no("is a number, not a date")],
  ["datetime", "2021-13-45 99:00:00", no('"2021-13-45 99:00:00" is not a calendar date for c DATETIME')],
  ["datetime", "2021-01-01 24:00:00", no("is not a time of day")],
  ["datetime", "2021-01-01 23:59:60", no("is not a time of day")],
  ["datetime", "2021-01-01T10:00:00", ok("2021-01-01 10:00:00")],
  ["datetime", "2021-01-01", ok("2021-01-01 00:00:00")],
  ["datetime", "2021-01-01 10:00:00.5", no("has 1 fractional digits of seconds, more than the 0 kept")],
  ["datetime", "2021-01-01 10:00:00.000", ok("2021-01-01 10:00:00")],
  ["datetime(3)", "2021-01-01 10:00:00.5", ok("2021-01-01 10:00:00.500")],
  ["datetime(3)", "2021-01-01 10:00:00.1234", no("more than the 3 kept for c DATETIME(3)")],
  ["datetime(6)", "9999-12-31 23:59:59.999999", ok("9999-12-31 23:59:59.999999")],
  ["timestamp(6)", "2021-06-30 12:00:00.000001", ok("2021-06-30 12:00:00.000001")],
  ["timestamp", "2021-06-31 12:00:00", no("is not a calendar date for c TIMESTAMP")],
  // TIME(fsp): -838:59:59..838:59:59
  ["time", "838:59:59", ok("838:59:59")],
  ["time", "839:00:00", no("is out of range for c TIME")],
  ["time", "-838:59:59", ok("-838:59:59")],
  ["time", "5:07", ok("05:07:00")],
  ["time", "10:60:00", no("is not a time")],
  ["time", "-00:00:00", ok("00:00:00")],
  ["time(2)", "-12:30:00.5", ok("-12:30:00.50")],
  ["time(2)", "12:30:00.555", no("more than the 2 kept")],
  ["time", 1230, no("is a number, not a time")],
  // ENUM and SET: members, spelled as declared; a SET's members in declared order
  ["enum('a','it''s','Cap','x,y')", "it's", ok("it's")],
  ["enum('a','it''s','Cap','x,y')", "cap", ok("Cap")],
  ["enum('a','it''s','Cap','x,y')", "cap", no("is not a member"), { collation: "utf8mb4_bin" }],
  ["enum('a','it''s','Cap','x,y')", "b", no(`"b" is not a member for c ENUM('a','it''s','Cap','x,y'): one of "a"`)],
  ["enum('a','it''s','Cap','x,y')", "", no("is not a member")],
  ["enum('a','it''s','Cap','x,y')", 2, no("is a number")],
  ["set('r','w','x')", "x,r", ok("r,x")],
  ["set('r','w','x')", "w,w", ok("w")],
  ["set('r','w','x')", "", ok("")],
  ["set('r','w','x')", "r,z", no('has "z", which is not a member')],
  // CHAR/VARCHAR/TEXT: text only, within the length in characters and the character set's repertoire
  ["varchar(5)", "héllo", ok("héllo")],
  ["varchar(5)", "😀😀😀😀😀", ok("😀😀😀😀😀")],
  ["varchar(5)", "héllo!", no("is 6 characters long, more than the 5 for c VARCHAR(5)")],
  ["char(3)", "abcd", no("is 4 characters long")],
  ["varchar(5)", 123, no("is a number for c VARCHAR(5), which holds text: write the value in quotes")],
  ["varchar(5)", "a\ud800", no("is not well-formed Unicode")],
  ["varchar(5)", "a😀", no('has "😀", which character set latin1 cannot hold'), { charset: "latin1", collation: "latin1_swedish_ci" }],
  ["varchar(5)", "€é", ok("€é"), { charset: "latin1", collation: "latin1_swedish_ci" }],
  ["varchar(5)", "é", no("which character set ascii cannot hold"), { charset: "ascii", collation: "ascii_general_ci" }],
  ["varchar(5)", "a😀", no("utf8mb3 cannot hold"), { charset: "utf8mb3", collation: "utf8mb3_general_ci" }],
  ["tinytext", "é".repeat(128), no("is longer than the 255 bytes")],
  ["tinytext", "é".repeat(127), ok("é".repeat(127))],
  ["longtext", "any", ok("any")],
  // BINARY/VARBINARY/BLOB: written as 0x and hex, bound through UNHEX
  ["varbinary(4)", "0xcafe", ok("CAFE")],
  ["varbinary(4)", "0x", ok("")],
  ["varbinary(4)", "cafe", no("is not 0x and hex digits")],
  ["varbinary(4)", "0xcaf", no("is not 0x and hex digits")],
  ["binary(2)", "0xcafe00", no("is 3 bytes long, more than the 2")],
  ["blob", `0x${"00".repeat(65536)}`, no("more than the 65535")],
  ["uuid", "123E4567-E89B-12D3-A456-426614174000", ok("123e4567-e89b-12d3-a456-426614174000")],
  ["uuid", "123", no("is not a UUID")],
  // JSON and types without an exact comparison are refused for any value
  ["json", "{}", no("is JSON, which compares by JSON's rules")],
  ["geometry", "POINT(1 1)", no("which a filter cannot compare exactly")],
];

describe("filter values parsed as the column's type", () => {
  for (const [type, value, expect, extra] of cases) {
    test(`${type} ${JSON.stringify(value)?.slice(0, 40)} -> ${"ok" in expect ? expect.ok.slice(0, 30) : "refused"}`, () => {
      const run = () => filterValueText(col(type, extra), value, "source.filter[0].value");
      if ("ok" in expect) assert.equal(run(), expect.ok);
      else {
        assert.throws(run, (e: Error) => {
          assert.equal(e.name, "UserError");
          assert.ok(e.message.startsWith("source.filter[0].value: "), e.message);
          assert.ok(e.message.includes(expect.refused), `${e.message}\n  lacks: ${expect.refused}`);
          assert.doesNotMatch(e.message, /\n/);
          return true;
        });
      }
    });
  }
});

test("ENUM and SET members read back from COLUMN_TYPE, quotes and backslashes unescaped", () => {
  assert.deepEqual(membersOf("enum('a','it''s','back\\\\slash','x,y','')"), ["a", "it's", "back\\slash", "x,y", ""]);
  assert.deepEqual(membersOf("set('r','w')"), ["r", "w"]);
});

describe("filterSql", () => {
  const info: TableInfo = {
    database: "d",
    table: "t",
    estimatedRows: 0,
    indexes: [],
    columns: [
      { name: "id", dataType: "bigint", columnType: "bigint(20) unsigned", nullable: false, charset: null, collation: null },
      { name: "ts", dataType: "datetime", columnType: "datetime(3)", nullable: true, charset: null, collation: null },
      { name: "doc", dataType: "json", columnType: "json", nullable: true, charset: null, collation: null },
    ],
  };
  const refusal = (f: Parameters<typeof filterSql>[1]) => {
    try {
      filterSql(info, f);
    } catch (e) {
      return (e as Error).message;
    }
    return assert.fail("accepted");
  };

  test("binds each value as the column's canonical text behind its typed CAST", () => {
    const sql = filterSql(info, [
      { column: "id", op: "in", values: [7, "0018446744073709551615"] },
      { column: "ts", op: "between", values: ["2021-01-01", "2021-12-31 23:59:59.5"] },
      { column: "doc", op: "is not null" },
    ]);
    assert.equal(
      sql?.sql,
      "`id` IN (CAST(? AS UNSIGNED), CAST(? AS UNSIGNED)) AND `ts` BETWEEN CAST(? AS DATETIME(3)) AND CAST(? AS DATETIME(3)) AND `doc` IS NOT NULL",
    );
    assert.deepEqual(sql?.params, ["7", U64, "2021-01-01 00:00:00.000", "2021-12-31 23:59:59.500"]);
  });

  test("names the field path of the value it refuses", () => {
    assert.equal(
      refusal([
        { column: "ts", op: ">=", value: "2021-01-01" },
        { column: "id", op: ">", value: -1 },
      ]),
      `source.filter[1].value: -1 is out of range for id BIGINT UNSIGNED (0..${U64})`,
    );
    assert.match(refusal([{ column: "id", op: "not in", values: [1, "x"] }]), /^source\.filter\[0\]\.values\[1\]: "x" is not an integer/);
    assert.match(refusal([{ column: "ts", op: "between", values: ["2021-01-01", "2021-02-30"] }]), /^source\.filter\[0\]\.values\[1\]: /);
    assert.match(refusal([{ column: "id", op: "in", values: [1, null] }]), /^source\.filter\[0\]\.values\[1\]: null matches no row/);
    assert.match(refusal([{ column: "doc", op: "=", value: "{}" }]), /^source\.filter\[0\]\.op: "=" on doc is JSON/);
  });
});
