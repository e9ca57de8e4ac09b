import assert from "node:assert/strict";
import { test } from "node:test";
import type { KeyColumn } from "../../config/records.ts";
import { keySpaceCodec } from "../../controller/planner/key-space.ts";

// The leading key column as integers for the estimating planner: exact, order-preserving, round-tripping.

const col = (type: KeyColumn["type"], sqlType: string): KeyColumn => ({ name: "k", type, sqlType });

const roundTrips = (c: KeyColumn, texts: string[]) => {
  const codec = keySpaceCodec(c);
  assert.ok(codec, c.sqlType);
  const ints = texts.map((t) => codec.toInt(t));
  assert.deepEqual(
    ints.map((n) => codec.fromInt(n as bigint)),
    texts,
    c.sqlType,
  );
  for (let i = 1; i < ints.length; i++) assert.ok((ints[i - 1] as bigint) < (ints[i] as bigint), `${texts[i - 1]} < ${texts[i]}`);
  return codec;
};

test("integers and decimals map exactly, past 2^53 and to 2^64-1", () => {
  roundTrips(col("uint", "bigint(20) unsigned"), ["0", "9007199254740993", "18446744073709551615"]);
  roundTrips(col("int", "bigint(20)"), ["-9223372036854775808", "-1", "9223372036854775807"]);
  const d = roundTrips(col("decimal", "decimal(30,4)"), [
    "-12345678901234567890.0001",
    "-0.5000",
    "0.0000",
    "0.0001",
    "99999999999999999999.9999",
  ]);
  assert.equal(d.toInt("1.5"), 15000n);
  assert.equal(d.toInt("1.00001"), null);
  roundTrips(col("decimal", "decimal(10,0)"), ["-10", "0", "7"]);
});

test("dates and datetimes map to days and units of their fractional precision, before and after 1970", () => {
  const date = roundTrips(col("date", "date"), ["1000-01-01", "1969-12-31", "1970-01-01", "2024-02-29", "9999-12-31"]);
  assert.equal(date.toInt("0000-00-00"), null, "zero dates are outside the map");
  assert.equal(date.toInt("2023-02-29"), null);
  const dt3 = roundTrips(col("datetime", "datetime(3)"), [
    "1000-01-01 00:00:00.000",
    "1969-12-31 23:59:59.999",
    "1970-01-01 00:00:00.000",
    "2024-06-01 12:00:00.123",
    "9999-12-31 23:59:59.999",
  ]);
  assert.equal((dt3.toInt("1970-01-01 00:00:01.000") as bigint) - (dt3.toInt("1970-01-01 00:00:00.999") as bigint), 1n);
  roundTrips(col("datetime", "datetime"), ["1999-12-31 23:59:59", "2000-01-01 00:00:00"]);
  roundTrips(col("datetime", "datetime(6)"), ["2000-01-01 00:00:00.000001", "2000-01-01 00:00:00.000002"]);
  assert.equal(dt3.toInt("0000-00-00 00:00:00.000"), null);
});

test("keys whose order JS cannot reproduce have no map", () => {
  assert.equal(keySpaceCodec({ ...col("string", "varchar(40)"), collation: "utf8mb4_unicode_ci" }), null);
  assert.equal(keySpaceCodec(col("binary", "varbinary(16)")), null);
  assert.equal(keySpaceCodec(col("time", "time")), null);
  assert.equal(keySpaceCodec(col("datetime", "timestamp(3)")), null);
});
