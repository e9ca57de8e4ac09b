/**
 * DELTA_BINARY_PACKED (lib/output/encode/delta-binary.ts), read back by DuckDB: INT32 and INT64 data pages whose values
 * move by small steady steps go out delta-encoded, everything else stays PLAIN, and every value reads back exactly,
 * across blocks of 128, a last block and a last miniblock left part-filled, NULLs, negative and unsigned 64-bit values.
 *   node scripts/run-tests.mjs --no-lint test/fast/parquet-delta.test.ts
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { col, parquetFiles } from "../helpers/parquet-files.ts";

const pq = parquetFiles("spotferry-pq-delta-");
after(() => pq.remove());

const DELTA = "DELTA_BINARY_PACKED";
/** The rows as DuckDB prints them: a timestamp's fraction without its trailing zeros. */
const text = (rows: unknown[][]) =>
  rows.map((r) =>
    r.map((v) =>
      v === null
        ? null
        : String(v)
            .replace(/^(\d{4}-.*\.\d*?)0+$/, "$1")
            .replace(/\.$/, ""),
    ),
  );
const at = (i: number) => new Date(Date.UTC(2021, 0, 1) + i * 97_001).toISOString().replace("T", " ").replace("Z", "000");

/** Encodings per column of each row group, e.g. { id: ["RLE, DELTA_BINARY_PACKED", ...] }. */
async function encodingsOf(file: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const m of await pq.chunkMeta(file)) out[m.name] = [...(out[m.name] ?? []), m.encodings];
  return out;
}

test("sorted keys and steady timestamps are delta-encoded, random values stay PLAIN, all read back exactly", async () => {
  const columns = [
    col("id", "uint64", { nullable: false }),
    col("seq", "int32"),
    col("at", "datetime", { fsp: 6 }),
    col("neg", "int64", { nullable: false }),
    col("noise", "int64", { nullable: false }),
    col("small", "int32", { nullable: false }),
  ];
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  // 1,000 rows a row group: 7 full blocks and one of 103 deltas, its last miniblock 7 deltas of 32.
  const rows = Array.from({ length: 3_000 }, (_, i) => [
    i + 1,
    i % 10 === 3 ? null : 5 * i, // NULLs: only the defined values are delta-encoded
    at(i),
    -1_500 + i * 3, // negative first value and deltas around zero
    String(BigInt(Math.floor(rand() * 2 ** 30)) * 2n ** 33n - 2n ** 62n), // random 64-bit: PLAIN
    Math.floor(rand() * 1_000), // deltas within +-1000: 11 bits of 32, delta-encoded
  ]);
  const file = await pq.encode(columns, rows, { rowGroupRows: 1_000 });
  assert.deepEqual(await pq.readBack(file, columns), text(rows));
  const enc = await encodingsOf(file);
  for (const name of ["id", "seq", "at", "neg", "small"]) {
    assert.deepEqual(enc[name], [`RLE, ${DELTA}`, `RLE, ${DELTA}`, `RLE, ${DELTA}`], name);
  }
  assert.ok(
    enc.noise?.every((e) => !e.includes(DELTA)),
    String(enc.noise),
  );
  // Statistics still come from the values themselves.
  const id = (await pq.chunkMeta(file)).filter((m) => m.name === "id");
  assert.deepEqual(
    id.map((m) => [m.min, m.max]),
    [
      ["1", "1000"],
      ["1001", "2000"],
      ["2001", "3000"],
    ],
  );
});

test("a page stays PLAIN past half the width, on a difference that overflows, or with fewer than two values", async () => {
  const columns = [col("u", "uint64", { nullable: false }), col("i", "int32"), col("w", "int64", { nullable: false })];
  const top = 2n ** 64n - 1n;
  const rows = [
    // Row group 0: u crosses 2^63 (as INT64 the step overflows); i's steps reach 2^16 (past half of 32 bits); w steps
    // by 0 and 2^32 - 1 in turn: the widest (32 bits) that is still delta-encoded.
    ...Array.from({ length: 200 }, (_, k) => [
      String(2n ** 63n - 100n + BigInt(k)),
      k === 5 ? 65_536 : k,
      Math.ceil(k / 2) * (2 ** 32 - 1),
    ]),
    // Row group 1: u at the top of BIGINT UNSIGNED, steps of 1 (delta-encoded); i all NULL; w steps by 0 and 2^32 (33
    // bits: PLAIN).
    ...Array.from({ length: 200 }, (_, k) => [String(top - 199n + BigInt(k)), null, Math.ceil(k / 2) * 2 ** 32]),
    // Row group 2: one value each.
    [String(top), 7, -(2 ** 40)],
  ];
  const file = await pq.encode(columns, rows, { rowGroupRows: 200 });
  assert.deepEqual(await pq.readBack(file, columns), text(rows));
  const enc = await encodingsOf(file);
  assert.deepEqual(
    enc.u?.map((e) => e.includes(DELTA)),
    [false, true, false],
  );
  assert.deepEqual(
    enc.i?.map((e) => e.includes(DELTA)),
    [false, false, false],
  );
  assert.deepEqual(
    enc.w?.map((e) => e.includes(DELTA)),
    [true, false, false],
  );
});

test("deltaEncoding: false keeps every page PLAIN; the worker thread writes the same values as this one", async () => {
  const columns = [col("id", "int64", { nullable: false }), col("at", "datetime", { fsp: 3 })];
  const rows = Array.from({ length: 5_000 }, (_, i) => [i * 7, i % 11 ? at(i).slice(0, 23) : null]);
  const plain = await pq.encode(columns, rows, { deltaEncoding: false });
  assert.ok(
    Object.values(await encodingsOf(plain))
      .flat()
      .every((e) => !e.includes(DELTA)),
  );
  assert.deepEqual(await pq.readBack(plain, columns), text(rows));
  const worker = await pq.encode(columns, rows, { threads: "worker", rowGroupRows: 2_048 });
  assert.ok(
    Object.values(await encodingsOf(worker))
      .flat()
      .every((e) => e.includes(DELTA)),
  );
  assert.deepEqual(await pq.readBack(worker, columns), text(rows));
});

test("every packed width from 1 to 32 bits reads back exactly (a row group per width, INT64 and INT32)", async () => {
  const columns = [col("wide", "int64", { nullable: false }), col("narrow", "int32", { nullable: false })];
  let seed = 99;
  const rand = () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
  const rows: number[][] = [];
  let wide = -(2 ** 50);
  let narrow = -(2 ** 30);
  for (let w = 1; w <= 32; w++) {
    // 150 rows: one full block and a part-filled one; steps below 2^w, with one of exactly 2^w - 1 (the width itself).
    for (let k = 0; k < 150; k++) {
      wide += k === 77 ? 2 ** w - 1 : Math.floor(rand() * 2 ** w);
      narrow += Math.floor(rand() * 2 ** Math.min(w, 16));
      rows.push([wide, narrow]);
    }
  }
  const file = await pq.encode(columns, rows, { rowGroupRows: 150 });
  assert.deepEqual(await pq.readBack(file, columns), text(rows));
  const enc = await encodingsOf(file);
  assert.ok(
    enc.wide?.every((e) => e.includes(DELTA)),
    String(enc.wide),
  );
  assert.ok(
    enc.narrow?.every((e) => e.includes(DELTA)),
    String(enc.narrow),
  );
});

test("a page of a few values stays PLAIN, where a block's header and a whole miniblock would make it larger", async () => {
  const columns = [col("id", "int64", { nullable: false })];
  // Steps 999 and -998: 11 bits, a miniblock of 32 such (44 bytes) against 24 bytes of PLAIN.
  const rows = [[1], [1000], [2]];
  const file = await pq.encode(columns, rows);
  assert.deepEqual(await pq.readBack(file, columns), text(rows));
  assert.deepEqual((await encodingsOf(file)).id, ["PLAIN, RLE"]);
});
