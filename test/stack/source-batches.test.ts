import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { exportSpec } from "../../config/export-spec.ts";
import { systemClock } from "../../lib/clock.ts";
import { MysqlSource } from "../../lib/mysql/range-source.ts";
import { RawRows, rowsOf } from "../../lib/output/encode/index.ts";
import { stackSource } from "../helpers/env.ts";
import { tempDatabase } from "../helpers/temp-mysql.ts";

/**
 * Batches are bounded by bytes as well as rows: a table of 256 KB rows read with 1 MiB batches gets a handful of
 * rows per batch, so memory does not grow with the row size (a 2,048-row batch of 1 MB rows would be 2 GB).
 */
let db: Awaited<ReturnType<typeof tempDatabase>>;
const ROWS = 40;
const ROW_BYTES = 256 * 1024;

before(async () => {
  db = await tempDatabase("batches");
  await db.conn.query("CREATE TABLE wide (id INT PRIMARY KEY, payload LONGTEXT NOT NULL)");
  for (let i = 1; i <= ROWS; i++) await db.conn.query("INSERT INTO wide VALUES (?, REPEAT(?, ?))", [i, String(i % 10), ROW_BYTES]);
});
after(() => db?.drop());

async function openWide(): Promise<MysqlSource> {
  const spec = exportSpec.parse({
    kind: "Export",
    name: "batches",
    pool: "p",
    source: stackSource(db.name, "wide"),
    destination: { bucket: "unused", prefix: "x/" },
  }).source;
  const keyColumns = [{ name: "id", type: "int" as const, sqlType: "int(11)" }];
  return MysqlSource.open({ spec, keyColumns, columns: ["id", "payload"], filter: null, clock: systemClock });
}

async function batchSizes(opts: { batchRows?: number; batchBytes?: number; wire?: boolean }): Promise<number[]> {
  const source = await openWide();
  try {
    const range = { lo: null, hi: null, cursor: null, highWatermark: null };
    const reader = opts.wire ? source.readWire(range, opts) : source.read(range, opts);
    const sizes: number[] = [];
    let expected = 1;
    for (let b = await reader.next(); b; b = await reader.next()) {
      sizes.push(b.length);
      for (const row of rowsOf(b)) assert.equal(row[0], expected++, "every row once, in key order");
      assert.deepEqual(source.keyAt(b, b.length - 1), [String(expected - 1)]);
    }
    return sizes;
  } finally {
    await source.close();
  }
}

test("batches are cut at about batchBytes read from the socket", async () => {
  const sizes = await batchSizes({ batchBytes: 1024 * 1024 });
  assert.equal(
    sizes.reduce((a, b) => a + b, 0),
    ROWS,
  );
  // 1 MiB of 256 KB rows: 4 or 5 rows (the socket is read in chunks, so a batch may end a row late).
  assert.ok(Math.max(...sizes) <= 6, `batches of ${sizes.join(",")} rows`);
  assert.ok(sizes.length >= ROWS / 6, `batches of ${sizes.join(",")} rows`);
});

test("narrow rows still come in batches of batchRows", async () => {
  const sizes = await batchSizes({ batchRows: 8, batchBytes: 1024 * 1024 * 1024 });
  assert.deepEqual(sizes, [8, 8, 8, 8, 8]);
});

test("wire batches (what Parquet reads) are cut at batchBytes of row bytes, and hold each value's bytes", async () => {
  const sizes = await batchSizes({ batchBytes: 1024 * 1024, wire: true });
  assert.equal(
    sizes.reduce((a, b) => a + b, 0),
    ROWS,
  );
  // Rows of 256 KB plus their length headers: the fourth row passes 1 MiB and closes the batch.
  assert.deepEqual(sizes, Array(10).fill(4));
});

test("narrow wire batches come in batchRows, each value where its offsets say", async () => {
  const sizes = await batchSizes({ batchRows: 8, batchBytes: 1024 * 1024 * 1024, wire: true });
  assert.deepEqual(sizes, [8, 8, 8, 8, 8]);
  const source = await openWide();
  try {
    const batch = await source.readWire({ lo: null, hi: ["4"], cursor: null, highWatermark: null }).next();
    assert.ok(batch instanceof RawRows);
    assert.equal(batch.length, 3, "hi is exclusive");
    // Row 2: id, payload, then the key's text (the reader appends it).
    const at = (c: number) =>
      batch.buf.toString("latin1", batch.starts[batch.stride + c], batch.starts[batch.stride + c]! + batch.lens[batch.stride + c]!);
    assert.equal(at(0), "2");
    assert.equal(at(1), "2".repeat(ROW_BYTES));
    assert.equal(at(2), "2");
  } finally {
    await source.close();
  }
});

test("wire batches said done() lend their buffers to later batches; a slice still held keeps its batch's", async () => {
  const source = await openWide();
  try {
    const reader = source.readWire({ lo: null, hi: null, cursor: null, highWatermark: null }, { batchRows: 4, batchBytes: 1 << 30 });
    const text = (b: RawRows, r: number, c: number) => {
      const at = b.starts[r * b.stride + c] as number;
      return b.buf.toString("latin1", at, at + (b.lens[r * b.stride + c] as number));
    };
    const first = (await reader.next()) as RawRows;
    // The first batch's last row stays held (as a chunk's carried rows are) while the batch itself is done.
    const held = first.slice(3);
    first.done();
    const seen = new Set<Buffer>();
    let reused = 0;
    let expected = 5;
    for (let b = (await reader.next()) as RawRows | null; b; b = (await reader.next()) as RawRows | null) {
      assert.notEqual(b.buf, first.buf, "a batch with a view not done is never refilled");
      if (seen.has(b.buf)) reused++;
      seen.add(b.buf);
      for (let r = 0; r < b.length; r++, expected++) {
        assert.equal(text(b, r, 0), String(expected));
        assert.equal(text(b, r, 1), String(expected % 10).repeat(ROW_BYTES), `row ${expected}'s payload`);
      }
      b.done();
    }
    assert.equal(expected, ROWS + 1);
    assert.ok(reused > 0, "later batches refill the buffers of batches said done");
    assert.equal(text(held, 0, 0), "4", "the held slice's bytes are intact");
    assert.equal(text(held, 0, 1), "4".repeat(ROW_BYTES));
    held.done();
  } finally {
    await source.close();
  }
});
