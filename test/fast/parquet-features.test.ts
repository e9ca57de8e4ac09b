/**
 * The Parquet users expect (issue 16 item 5), each read back by DuckDB: the JSON logical type, dictionary encoding of
 * low-cardinality text with PLAIN fallback, min/max statistics of strings in byte order (truncated when long),
 * REQUIRED for NOT NULL columns, and TINYINT(1) as BOOLEAN when asked.
 *   node scripts/run-tests.mjs --no-lint test/fast/parquet-features.test.ts
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { createEncoder } from "../../lib/output/encode/index.ts";
import { col, parquetFiles } from "../helpers/parquet-files.ts";

const pq = parquetFiles("spotferry-pqf-");
after(() => pq.remove());
const { encode, query, readBack, chunkMeta, schemaOf } = pq;
const text = (rows: unknown[][]) => rows.map((r) => r.map((v) => (v === null ? null : String(v))));

/** Unsigned byte order of UTF-8, the order Parquet's TYPE_ORDER gives UTF8 (not JavaScript's UTF-16 order). */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

test("JSON columns carry the JSON logical type and DuckDB reads them as JSON", async () => {
  const columns = [col("doc", "json")];
  const rows = [['{"a": 1, "b": [1, 2.50]}'], [null], ['"text"'], ["[]"]];
  const file = await encode(columns, rows);
  const s = (await schemaOf(file)).get("doc");
  assert.equal(s?.duckdb, "JSON");
  assert.match(String(s?.logical), /JsonType/);
  const [[converted]] = (await query(`SELECT converted_type FROM parquet_schema('${file}') WHERE name = 'doc'`)) as [[unknown]];
  assert.equal(String(converted), "JSON");
  assert.deepEqual(await readBack(file, columns), text(rows), "the document text, byte for byte");
  const [[a, type]] = (await query(`SELECT doc->>'$.a', json_type(doc) FROM '${file}' LIMIT 1`)) as [[unknown, unknown]];
  assert.deepEqual([String(a), String(type)], ["1", "OBJECT"]);
});

test("low-cardinality text is dictionary-encoded per row group, unique text stays PLAIN, values identical", async () => {
  const columns = [col("country", "text"), col("uuid", "text"), col("mixed", "text")];
  const countries = ["DE", "FR", "Österreich", "日本", "US"];
  const rows = Array.from({ length: 20_000 }, (_, i) => [
    i % 11 === 0 ? null : (countries[i % 5] as string),
    `id-${i}-${(i * 2654435761) % 1e9}`,
    // Row group 0: 3 values; row group 1 (from row 8192): unique past the probe.
    i < 8192 ? `m${i % 3}` : `unique ${i}`,
  ]);
  const file = await encode(columns, rows, { rowGroupRows: 8192 });
  assert.deepEqual(await readBack(file, columns), text(rows));
  const meta = await chunkMeta(file);
  assert.equal(new Set(meta.map((m) => m.rg)).size, 3);
  for (const m of meta) {
    const dictionary = m.encodings.includes("RLE_DICTIONARY");
    if (m.name === "country") assert.ok(dictionary, `country in row group ${m.rg}: ${m.encodings}`);
    if (m.name === "uuid") assert.ok(!dictionary, `uuid in row group ${m.rg}: ${m.encodings}`);
    if (m.name === "mixed") assert.equal(dictionary, m.rg === 0, `mixed in row group ${m.rg}: ${m.encodings}`);
  }
  // A filter DuckDB may answer from the dictionary sees the same rows.
  const [[n]] = (await query(`SELECT count(*) FROM '${file}' WHERE country = 'Österreich'`)) as [[unknown]];
  assert.equal(Number(n), rows.filter((r) => r[0] === "Österreich").length);
});

test("a dictionary that grows past its bound falls back to PLAIN for that column chunk", async () => {
  const columns = [col("code", "text")];
  // 3,000 distinct values of ~40 bytes, each used twice: a dictionary pays, but it is ~130 KB.
  const rows = Array.from({ length: 6000 }, (_, i) => [`code ${String(i % 3000).padStart(4, "0")} ${"x".repeat(30)}`]);
  const big = await encode(columns, rows, { rowGroupRows: 8192 });
  const small = await encode(columns, rows, { rowGroupRows: 8192, dictionaryMaxBytes: 64 * 1024 });
  const off = await encode(columns, rows, { rowGroupRows: 8192, dictionaryMaxBytes: 0 });
  assert.match((await chunkMeta(big))[0]?.encodings ?? "", /RLE_DICTIONARY/);
  assert.doesNotMatch((await chunkMeta(small))[0]?.encodings ?? "", /RLE_DICTIONARY/);
  assert.doesNotMatch((await chunkMeta(off))[0]?.encodings ?? "", /RLE_DICTIONARY/);
  for (const f of [big, small, off]) assert.deepEqual(await readBack(f, columns), text(rows));
});

test("string min/max statistics per row group, in byte order, long values truncated", async () => {
  const columns = [col("name", "text"), col("word", "text"), col("status", "enum"), col("t", "time"), col("note", "text")];
  const long = (c: string) => `${c.repeat(100)}`; // 100+ bytes
  // U+FF5E sorts before U+1F600 in bytes (EF.. < F0..) but after it in UTF-16 (0xFF5E > 0xD83D).
  const names = ["b", "ábc", "～", "😀", "a", long("z"), long("é"), "Z"];
  const rows = Array.from({ length: 3000 }, (_, i) => [
    i % 7 === 3 ? null : `${names[i % names.length]}${i % 5}`,
    ["ant", "bee", "cat"][i % 3],
    ["on", "off"][i % 2],
    `${String(i % 839).padStart(3, "0")}:00:00`,
    `${long(i % 2 ? "é" : "a")}${i}`,
  ]);
  const file = await encode(columns, rows, { rowGroupRows: 1000 });
  const meta = await chunkMeta(file);
  for (const m of meta) {
    const j = columns.findIndex((c) => c.name === m.name);
    const values = rows.slice(m.rg * 1000, m.rg * 1000 + 1000).map((r) => r[j] as string | null);
    const present = values.filter((v): v is string => v !== null).sort(byteOrder);
    assert.equal(m.nulls, values.length - present.length, `${m.name} null_count in row group ${m.rg}`);
    const lo = present[0] as string;
    const hi = present.at(-1) as string;
    if (Buffer.byteLength(lo) <= 64) assert.equal(m.min, lo, `${m.name} min in row group ${m.rg}`);
    else assert.ok(lo.startsWith(String(m.min)) && Buffer.byteLength(String(m.min)) <= 64, `${m.name} min ${m.min}`);
    if (Buffer.byteLength(hi) <= 64) assert.equal(m.max, hi, `${m.name} max in row group ${m.rg}`);
    else {
      // A truncated max is a prefix with its last character incremented: still above every value, and short.
      assert.ok(Buffer.byteLength(String(m.max)) <= 66, `${m.name} max is short: ${m.max}`);
      assert.ok(byteOrder(String(m.max), hi) > 0, `${m.name} max ${m.max} bounds ${hi}`);
    }
  }
  assert.equal(meta.find((m) => m.name === "name")?.max, "😀4", "byte order, not UTF-16 order");
  // Only long values: min is a 64-byte prefix, max the 64-byte prefix with its last character incremented (é -> ê).
  const note = meta.find((m) => m.name === "note" && m.rg === 0);
  assert.equal(note?.min, "a".repeat(64));
  assert.equal(note?.max, `${"é".repeat(31)}ê`);
  // Row-group pruning on these statistics returns exactly the matching rows.
  const probes: [string, number][] = [
    ...["😀4", "～1", `${long("z")}3`, `${long("é")}0`, "a2"].map((p): [string, number] => [p, 0]),
    [`${long("é")}2999`, 4],
    [`${long("a")}0`, 4],
  ];
  for (const [probe, j] of probes) {
    const [[n]] = (await query(`SELECT count(*) FROM '${file}' WHERE "${columns[j]?.name}" = '${probe}'`)) as [[unknown]];
    assert.equal(Number(n), rows.filter((r) => r[j] === probe).length, probe);
    assert.ok(Number(n) > 0 || j === 0, `${probe} exists`);
  }
});

test("NOT NULL columns are REQUIRED; nullable, date and time-stamp columns OPTIONAL", async () => {
  const columns = [
    col("id", "int32", { nullable: false }),
    col("maybe", "int32"),
    col("name", "text", { nullable: false }),
    col("at", "datetime"), // columnsFromFields makes dates nullable whatever the source says (zero dates)
  ];
  const rows = [
    [1, null, "a", "2024-01-01 00:00:00"],
    [2, 5, "b", null],
  ];
  const file = await encode(columns, rows);
  const s = await schemaOf(file);
  assert.equal(s.get("id")?.repetition, "REQUIRED");
  assert.equal(s.get("name")?.repetition, "REQUIRED");
  assert.equal(s.get("maybe")?.repetition, "OPTIONAL");
  assert.equal(s.get("at")?.repetition, "OPTIONAL");
  assert.deepEqual(
    (await readBack(file, columns)).map((r) => r.slice(0, 3)),
    text(rows).map((r) => r.slice(0, 3)),
  );
});

test("a NULL arriving in a REQUIRED column fails the chunk, naming the column", async () => {
  const enc = createEncoder("parquet", [col("id", "int32", { nullable: false }), col("name", "text", { nullable: false })], {
    threads: "inline",
  });
  enc.output.on("error", () => {});
  await assert.rejects(
    enc.write([
      [1, "a"],
      [2, null],
    ]),
    (err: Error) => {
      assert.match(err.message, /column name/);
      assert.match(String((err.cause as Error).message), /NULL in a NOT NULL column/);
      return true;
    },
  );
  await assert.rejects(enc.end());
});

test("TINYINT(1) is BOOLEAN only when asked, and only for display width 1", async () => {
  const columns = [
    col("flag", "int8", { displayWidth: 1, nullable: false }),
    col("uflag", "uint8", { displayWidth: 1 }),
    col("tiny", "int8", { displayWidth: 4 }),
  ];
  const rows = Array.from({ length: 50 }, (_, i) => [i % 2, i % 3 === 0 ? null : 1 - (i % 2), (i % 200) - 100]);
  const asBool = await encode(columns, rows, { tinyint1AsBoolean: true });
  const s = await schemaOf(asBool);
  assert.equal(s.get("flag")?.duckdb, "BOOLEAN");
  assert.equal(s.get("flag")?.repetition, "REQUIRED");
  assert.equal(s.get("uflag")?.duckdb, "BOOLEAN");
  assert.equal(s.get("tiny")?.duckdb, "TINYINT");
  const bool = (v: unknown) => (v === null ? null : v === 1 ? "true" : "false");
  assert.deepEqual(
    await readBack(asBool, columns),
    rows.map((r) => [bool(r[0]), bool(r[1]), String(r[2])]),
  );
  const meta = await chunkMeta(asBool);
  assert.deepEqual([meta[0]?.min, meta[0]?.max], ["false", "true"]);
  const plain = await schemaOf(await encode(columns, rows));
  assert.equal(plain.get("flag")?.duckdb, "TINYINT", "default: TINYINT(1) stays an integer");
});

test("a TINYINT(1) value other than 0/1 fails the chunk, naming the column", async () => {
  const enc = createEncoder("parquet", [col("flag", "int8", { displayWidth: 1 })], { threads: "inline", tinyint1AsBoolean: true });
  enc.output.on("error", () => {});
  await assert.rejects(enc.write([[1], [0], [2]]), (err: Error) => {
    assert.match(err.message, /column flag/);
    assert.match(String((err.cause as Error).message), /value 2 is neither 0 nor 1/);
    return true;
  });
});
