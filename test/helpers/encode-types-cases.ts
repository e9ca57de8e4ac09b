/** Every MySQL type the encoders support, with per row the SQL literal, the value mysql2 delivers and the canonical text. */
import type { ColumnSpec } from "../../lib/output/encode/index.ts";

/** One column: its DDL, and per row the SQL literal, the value mysql2 delivers, and the canonical text expected back. */
export interface Case {
  name: string;
  ddl: string;
  kind: ColumnSpec["kind"];
  spec?: Partial<ColumnSpec>;
  rows: [sql: string, driver: unknown, canonical: string | null][];
}

const b64 = (hex: string) => Buffer.from(hex, "hex").toString("base64");
const U64MAX = "18446744073709551615";
export const cases: Case[] = [
  {
    name: "i8",
    ddl: "TINYINT",
    kind: "int8",
    rows: [
      ["-128", -128, "-128"],
      ["127", 127, "127"],
      ["0", 0, "0"],
      ["NULL", null, null],
    ],
  },
  {
    name: "u8",
    ddl: "TINYINT UNSIGNED",
    kind: "uint8",
    rows: [
      ["0", 0, "0"],
      ["255", 255, "255"],
      ["7", 7, "7"],
      ["NULL", null, null],
    ],
  },
  {
    name: "i16",
    ddl: "SMALLINT",
    kind: "int16",
    rows: [
      ["-32768", -32768, "-32768"],
      ["32767", 32767, "32767"],
      ["1", 1, "1"],
      ["NULL", null, null],
    ],
  },
  {
    name: "u24",
    ddl: "MEDIUMINT UNSIGNED",
    kind: "uint32",
    rows: [
      ["16777215", 16777215, "16777215"],
      ["0", 0, "0"],
      ["5", 5, "5"],
      ["NULL", null, null],
    ],
  },
  {
    name: "i32",
    ddl: "INT",
    kind: "int32",
    rows: [
      ["-2147483648", -2147483648, "-2147483648"],
      ["2147483647", 2147483647, "2147483647"],
      ["0", 0, "0"],
      ["NULL", null, null],
    ],
  },
  {
    name: "u32",
    ddl: "INT UNSIGNED",
    kind: "uint32",
    rows: [
      ["4294967295", 4294967295, "4294967295"],
      ["0", 0, "0"],
      ["1", 1, "1"],
      ["NULL", null, null],
    ],
  },
  {
    name: "i64",
    ddl: "BIGINT",
    kind: "int64",
    rows: [
      ["-9223372036854775808", "-9223372036854775808", "-9223372036854775808"],
      ["9223372036854775807", "9223372036854775807", "9223372036854775807"],
      ["-9007199254740991", -9007199254740991, "-9007199254740991"],
      ["NULL", null, null],
    ],
  },
  {
    name: "u64",
    ddl: "BIGINT UNSIGNED",
    kind: "uint64",
    rows: [
      [U64MAX, U64MAX, U64MAX],
      ["9007199254740993", "9007199254740993", "9007199254740993"],
      ["0", 0, "0"],
      ["NULL", null, null],
    ],
  },
  {
    name: "dec",
    ddl: "DECIMAL(38,10)",
    kind: "decimal",
    spec: { precision: 38, scale: 10 },
    rows: [
      ["-9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999"],
      ["0.0000000001", "0.0000000001", "0.0000000001"],
      ["12.5", "12.5000000000", "12.5000000000"],
      ["NULL", null, null],
    ],
  },
  {
    name: "dec_s",
    ddl: "DECIMAL(10,4)",
    kind: "decimal",
    spec: { precision: 10, scale: 4 },
    rows: [
      ["-999999.9999", "-999999.9999", "-999999.9999"],
      ["0", "0.0000", "0.0000"],
      ["1.5", "1.5000", "1.5000"],
      ["NULL", null, null],
    ],
  },
  {
    name: "f32",
    ddl: "FLOAT",
    kind: "float",
    rows: [
      ["3.5", 3.5, "3.5"],
      ["-0.25", -0.25, "-0.25"],
      ["1234.5", 1234.5, "1234.5"],
      ["NULL", null, null],
    ],
  },
  {
    name: "f64",
    ddl: "DOUBLE",
    kind: "double",
    rows: [
      ["0.1", 0.1, "0.1"],
      ["-1.5e300", -1.5e300, "-1.5e+300"],
      ["2", 2, "2"],
      ["NULL", null, null],
    ],
  },
  {
    name: "d",
    ddl: "DATE",
    kind: "date",
    rows: [
      ["'1000-01-01'", "1000-01-01", "1000-01-01"],
      ["'9999-12-31'", "9999-12-31", "9999-12-31"],
      ["'0000-00-00'", "0000-00-00", null],
      ["NULL", null, null],
    ],
  },
  {
    name: "dt6",
    ddl: "DATETIME(6)",
    kind: "datetime",
    spec: { fsp: 6 },
    rows: [
      ["'1000-01-01 00:00:00.000000'", "1000-01-01 00:00:00.000000", "1000-01-01 00:00:00.000000"],
      ["'9999-12-31 23:59:59.999999'", "9999-12-31 23:59:59.999999", "9999-12-31 23:59:59.999999"],
      ["'0000-00-00 00:00:00'", "0000-00-00 00:00:00.000000", null],
      ["NULL", null, null],
    ],
  },
  {
    name: "ts3",
    ddl: "TIMESTAMP(3) NULL DEFAULT NULL",
    kind: "timestamp",
    spec: { fsp: 3 },
    rows: [
      ["'1970-01-01 00:00:01.000'", "1970-01-01 00:00:01.000", "1970-01-01 00:00:01.000000"],
      ["'2038-01-19 03:14:07.999'", "2038-01-19 03:14:07.999", "2038-01-19 03:14:07.999000"],
      ["'0000-00-00 00:00:00'", "0000-00-00 00:00:00.000", null],
      ["NULL", null, null],
    ],
  },
  {
    name: "t",
    ddl: "TIME(3)",
    kind: "time",
    spec: { fsp: 3 },
    rows: [
      ["'-838:59:59'", "-838:59:59.000", "-838:59:59.000"],
      ["'12:34:56.789'", "12:34:56.789", "12:34:56.789"],
      ["'00:00:00'", "00:00:00.000", "00:00:00.000"],
      ["NULL", null, null],
    ],
  },
  {
    name: "y",
    ddl: "YEAR",
    kind: "year",
    rows: [
      ["1901", 1901, "1901"],
      ["2155", 2155, "2155"],
      ["0", 0, "0"],
      ["NULL", null, null],
    ],
  },
  {
    name: "j",
    ddl: "JSON",
    kind: "json",
    rows: [
      [`'{"a": [1, 2.50, "x"]}'`, '{"a": [1, 2.50, "x"]}', '{"a": [1, 2.50, "x"]}'],
      [`'18446744073709551615'`, "18446744073709551615", "18446744073709551615"],
      [`'"é😀"'`, '"é😀"', '"é😀"'],
      ["NULL", null, null],
    ],
  },
  {
    name: "e",
    ddl: "ENUM('a','b','ç')",
    kind: "enum",
    rows: [
      ["'a'", "a", "a"],
      ["'ç'", "ç", "ç"],
      ["''", "", ""],
      ["NULL", null, null],
    ],
  },
  {
    name: "s",
    ddl: "SET('x','y','z')",
    kind: "set",
    rows: [
      ["'x,z'", "x,z", "x,z"],
      ["''", "", ""],
      ["'y'", "y", "y"],
      ["NULL", null, null],
    ],
  },
  {
    name: "bit10",
    ddl: "BIT(10)",
    kind: "bit",
    spec: { bits: 10 },
    rows: [
      ["b'1111111111'", Buffer.from([3, 255]), "1023"],
      ["b'0'", Buffer.from([0, 0]), "0"],
      ["b'101'", Buffer.from([0, 5]), "5"],
      ["NULL", null, null],
    ],
  },
  {
    name: "bit64",
    ddl: "BIT(64)",
    kind: "bit",
    spec: { bits: 64 },
    rows: [
      ["b'1111111111111111111111111111111111111111111111111111111111111111'", Buffer.alloc(8, 255), U64MAX],
      ["b'1'", Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]), "1"],
      ["b'0'", Buffer.alloc(8), "0"],
      ["NULL", null, null],
    ],
  },
  {
    name: "bin4",
    ddl: "BINARY(4)",
    kind: "binary",
    rows: [
      ["X'00ff10'", Buffer.from("00ff1000", "hex"), b64("00ff1000")],
      ["X'00000000'", Buffer.alloc(4), b64("00000000")],
      ["X'41424344'", Buffer.from("ABCD"), b64("41424344")],
      ["NULL", null, null],
    ],
  },
  {
    name: "vbin",
    ddl: "VARBINARY(16)",
    kind: "binary",
    rows: [
      ["X''", Buffer.alloc(0), ""],
      ["X'0d0a2c22'", Buffer.from("0d0a2c22", "hex"), b64("0d0a2c22")],
      ["X'ff'", Buffer.from([255]), b64("ff")],
      ["NULL", null, null],
    ],
  },
  {
    name: "blob",
    ddl: "BLOB",
    kind: "binary",
    rows: [
      ["X'deadbeef'", Buffer.from("deadbeef", "hex"), b64("deadbeef")],
      ["X'00'", Buffer.from([0]), b64("00")],
      ["X''", Buffer.alloc(0), ""],
      ["NULL", null, null],
    ],
  },
  {
    name: "txt",
    ddl: "VARCHAR(100) CHARACTER SET utf8mb4",
    kind: "text",
    rows: [
      ["'emoji 😀 and ü'", "emoji 😀 and ü", "emoji 😀 and ü"],
      ["''", "", ""],
      [`'quote " comma , newline \\n end'`, 'quote " comma , newline \n end', 'quote " comma , newline \n end'],
      ["NULL", null, null],
    ],
  },
  {
    name: "lt",
    ddl: "LONGTEXT CHARACTER SET utf8mb4",
    kind: "text",
    rows: [
      ["'\\\\N'", "\\N", "\\N"],
      ["'null'", "null", "null"],
      ["'𝄞'", "𝄞", "𝄞"],
      ["NULL", null, null],
    ],
  },
];
export const NROWS = 4;
