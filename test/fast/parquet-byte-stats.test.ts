/**
 * String statistics (lib/output/encode/byte-stats.ts) against a brute-force byte-order sort, on random values built to
 * share prefixes, end early, hold zero bytes and multi-byte characters, and pass the 64-byte truncation bound.
 *   node scripts/run-tests.mjs --no-lint test/fast/parquet-byte-stats.test.ts
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { byteArrayBounds, STATS_MAX_BYTES, truncatedMax } from "../../lib/output/encode/byte-stats.ts";

function plain(values: string[]): Uint8Array {
  const parts = values.map((v) => Buffer.from(v, "utf8"));
  const out = Buffer.alloc(parts.reduce((n, p) => n + 4 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.writeUInt32LE(p.length, at);
    p.copy(out, at + 4);
    at += 4 + p.length;
  }
  return out;
}

function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

test("min/max equal a brute-force byte-order sort (truncated past 64 bytes)", () => {
  const r = rng(42);
  const alphabet = ["a", "b", "\u0000", "é", "～", "😀", "\uffff", "z"];
  for (let round = 0; round < 300; round++) {
    const prefix = "p".repeat(Math.floor(r() * 70));
    const n = 1 + Math.floor(r() * 60);
    const values = Array.from({ length: n }, () => {
      let s = r() < 0.8 ? prefix : "";
      for (let k = Math.floor(r() * 6); k > 0; k--) s += alphabet[Math.floor(r() * alphabet.length)];
      return s;
    });
    const sorted = values.map((v) => Buffer.from(v)).sort(Buffer.compare);
    const lo = sorted[0] as Buffer;
    const hi = sorted.at(-1) as Buffer;
    const b = byteArrayBounds(plain(values));
    assert.ok(b, `round ${round}`);
    if (lo.length <= STATS_MAX_BYTES) assert.deepEqual(Buffer.from(b.min), lo, `round ${round} min`);
    else assert.ok(lo.subarray(0, b.min.length).equals(Buffer.from(b.min)) && !b.minExact, `round ${round} min prefix`);
    if (hi.length <= STATS_MAX_BYTES) assert.deepEqual(Buffer.from(b.max), hi, `round ${round} max`);
    else assert.ok(Buffer.compare(Buffer.from(b.max), hi) > 0 && !b.maxExact, `round ${round} max bounds`);
    for (const v of sorted) {
      assert.ok(Buffer.compare(Buffer.from(b.min), v) <= 0 && Buffer.compare(Buffer.from(b.max), v) >= 0, `round ${round}: ${v}`);
    }
  }
});

test("a truncated max increments the last character that can be, and gives up on U+10FFFF only", () => {
  const cut = (s: string) => Buffer.from((truncatedMax(Buffer.from(s))?.bytes ?? Buffer.from("<none>")) as Uint8Array).toString();
  assert.equal(cut("x".repeat(80)), `${"x".repeat(63)}y`);
  assert.equal(cut(`${"é".repeat(40)}`), `${"é".repeat(31)}ê`);
  assert.equal(cut(`${"a".repeat(60)}\u{10FFFF}${"z".repeat(10)}`), `${"a".repeat(59)}b`);
  assert.equal(cut("\u{10FFFF}".repeat(20)), "<none>");
  assert.equal(cut("short"), "short");
});
