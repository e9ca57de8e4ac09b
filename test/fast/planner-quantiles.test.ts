import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  buildHistogram,
  cutKeys,
  estBelow,
  halves,
  keyAt,
  type Piece,
  partitionCount,
  type RangeEstimate,
  totalEst,
} from "../../controller/planner/quantiles.ts";

// The estimating planner's pure half against a synthetic skewed key set and an estimator with InnoDB's quirks.

const MAX = 2n ** 64n - 1n;

/** Sorted keys: a dense run, one key per 1000 from 10^12 with a dense cluster inside, keys past 2^53, keys up to 2^64-1. */
function skewedKeys(): bigint[] {
  const keys: bigint[] = [];
  for (let i = 1n; i <= 100_000n; i++) keys.push(i);
  for (let i = 1n; i <= 60_000n; i++) keys.push(10n ** 12n + i * 1000n);
  for (let i = 1n; i <= 40_000n; i++) keys.push(10n ** 12n + 60_001n * 1000n + i);
  for (let i = 1n; i <= 50_000n; i++) keys.push(2n ** 53n + i * 7n);
  for (let i = 49_999n; i >= 0n; i--) keys.push(MAX - i);
  return keys;
}

const firstAtOrAfter = (keys: bigint[], k: bigint) => {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((keys[mid] as bigint) < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};

/**
 * InnoDB-like: exact under ~10 pages, else doubled with some deterministic noise (±15%), capped at half the table.
 */
function innodbLike(keys: bigint[]): RangeEstimate & { calls: number } {
  const f = async (lo: bigint, hi: bigint) => {
    f.calls++;
    const n = firstAtOrAfter(keys, hi) - firstAtOrAfter(keys, lo);
    if (n < 1500) return n;
    const noise = 1 + 0.15 * Math.sin(Number(lo % 1000003n));
    return Math.min(keys.length / 2, Math.round(2 * n * noise));
  };
  f.calls = 0;
  return f;
}

describe("planner quantiles", () => {
  /** The first and last key in [lo, hi), as the index would answer. */
  const extentOf = (keys: bigint[]) => {
    const f = async (lo: bigint, hi: bigint): Promise<[bigint, bigint] | null> => {
      f.calls++;
      const a = firstAtOrAfter(keys, lo);
      const b = firstAtOrAfter(keys, hi);
      return a < b ? [keys[a] as bigint, keys[b - 1] as bigint] : null;
    };
    f.calls = 0;
    return f;
  };

  for (const tightened of [false, true]) {
    test(`a skewed key space is cut within 1.5x of the median, every key in exactly one partition${tightened ? ", descents tightened" : ""}`, async () => {
      const keys = skewedKeys();
      const estimate = innodbLike(keys);
      const extent = extentOf(keys);
      const n = partitionCount(keys.length, { step: 20_000, maxPartitions: 1000 });
      assert.equal(n, 15);
      const hist = await buildHistogram({
        lo: keys[0] as bigint,
        hi: (keys.at(-1) as bigint) + 1n,
        maxPieceEst: (2 * keys.length) / (n * 8),
        maxProbes: 20_000,
        estimate,
        ...(tightened ? { extent } : {}),
      });
      assert.ok(hist);
      const cuts = await cutKeys(hist.pieces, { n, refineEst: (2 * keys.length) / (n * 8 * 64), estimate });
      // Snap as the server would: the first real key at or after each cut.
      const at = [0, ...cuts.cuts.map((c) => firstAtOrAfter(keys, c.key)), keys.length];
      const sizes = at.slice(1).map((e, i) => e - (at[i] as number));
      assert.equal(
        sizes.reduce((a, b) => a + b),
        keys.length,
      );
      const sorted = [...sizes].sort((a, b) => a - b);
      const median = sorted[Math.floor((sorted.length - 1) / 2)] as number;
      assert.ok((sorted.at(-1) as number) <= 1.5 * median && (sorted[0] as number) >= median / 1.5, `sizes ${sizes}`);
      assert.ok(
        cuts.cuts.some((c) => c.key > 2n ** 63n),
        "a cut lies past 2^63",
      );
      // Untightened, the descents from 2^64 to each cluster's edges dominate; tightened, the pieces do.
      const calls = estimate.calls + extent.calls;
      if (tightened) assert.ok(calls < 650, `${estimate.calls} estimates and ${extent.calls} extents`);
      else assert.ok(calls > 700 && calls < 1500, `${calls} estimates for ${keys.length} keys`);
    });
  }

  test("gaps stop the bisection at the first empty estimate", async () => {
    const keys = [1n, 2n, MAX];
    const estimate = innodbLike(keys);
    const hist = await buildHistogram({ lo: 1n, hi: MAX + 1n, maxPieceEst: 1, maxProbes: 1000, estimate });
    assert.ok(hist);
    assert.equal(totalEst(hist.pieces), 3);
    // Each key alone in a piece; the empty 2^64-wide middle costs one estimate per level, not one per key.
    const full = hist.pieces.filter((p) => p.est > 0);
    assert.deepEqual(
      full.map((p) => p.est),
      [1, 1, 1],
    );
    assert.ok(full[0]?.hi === 2n && (full[1]?.hi as bigint) <= 4n && (full[2]?.lo as bigint) >= 2n ** 63n);
    assert.ok(estimate.calls <= 2 * 64 * 2 + 1, `${estimate.calls} estimates`);
    // Contiguous cover of [lo, hi), in key order.
    hist.pieces.forEach((p, i) => {
      assert.equal(p.lo, i === 0 ? 1n : (hist.pieces[i - 1] as Piece).hi);
    });
    assert.equal(hist.pieces.at(-1)?.hi, MAX + 1n);
    assert.equal(await buildHistogram({ lo: 1n, hi: MAX + 1n, maxPieceEst: 1, maxProbes: 10, estimate }), null);
  });

  test("interpolation and shares stay exact near 2^64", () => {
    const pieces: Piece[] = [
      { lo: 0n, hi: 2n ** 63n, est: 10 },
      { lo: 2n ** 63n, hi: MAX + 1n, est: 30 },
    ];
    assert.equal(estBelow(pieces, 2n ** 63n), 10);
    assert.equal(estBelow(pieces, 2n ** 63n + 2n ** 62n), 25);
    assert.equal(estBelow(pieces, MAX + 1n), 40);
    assert.equal(keyAt(pieces, 10), 2n ** 63n - 1n);
    assert.equal(keyAt(pieces, 25), 2n ** 63n + 2n ** 62n);
    assert.ok(keyAt(pieces, 40) <= MAX);
    assert.deepEqual(halves(MAX - 1n, MAX + 1n), [MAX - 1n, MAX, MAX + 1n]);
    assert.equal(halves(MAX, MAX + 1n), null);
  });

  test("partition count follows the walk: a remainder under half a step joins its neighbour, capped", () => {
    assert.equal(partitionCount(10_000_000, { step: 2_000_000, maxPartitions: 100 }), 5);
    assert.equal(partitionCount(10_900_000, { step: 2_000_000, maxPartitions: 100 }), 5);
    assert.equal(partitionCount(11_000_000, { step: 2_000_000, maxPartitions: 100 }), 6);
    assert.equal(partitionCount(10_000_000, { step: 500_000, maxPartitions: 7 }), 7);
    assert.equal(partitionCount(100, { step: 2_000_000, maxPartitions: 7 }), 1);
  });
});
