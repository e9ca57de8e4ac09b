/**
 * The pure half of the estimating planner (estimate.ts): a piecewise histogram of an integer key space built from
 * row estimates of key ranges, and the cut points that split it into equal shares. No SQL here: the range estimate is
 * a port (`RangeEstimate`), so the bisection and the quantiles are tested against synthetic distributions.
 */

/**
 * Values [lo, hi) of one key column, and the estimate of the index entries in them (optimizer units). The column is
 * the leading one, or, under `prefix` (the texts of the columns before it, fixed), the next one: a composite key's
 * leading value that holds many rows is bisected on its second column.
 */
export interface Piece {
  lo: bigint;
  hi: bigint;
  est: number;
  prefix?: string[];
}

/** Estimated index entries with the column in [lo, hi) under the prefix; hi > lo. */
export type RangeEstimate = (lo: bigint, hi: bigint, prefix?: string[]) => Promise<number>;

/** The first and last values of the column that occur in [lo, hi) under the prefix; null when none does. */
export type RangeExtent = (lo: bigint, hi: bigint, prefix?: string[]) => Promise<[bigint, bigint] | null>;

export interface HistogramOptions {
  /** The key space to cover: [lo, hi), under the prefix if any. */
  lo: bigint;
  hi: bigint;
  prefix?: string[];
  /** Pieces estimated above this are bisected (down to one key). */
  maxPieceEst: number;
  /** Refused (null) beyond this many estimates: the caller walks the index instead. */
  maxProbes: number;
  estimate: RangeEstimate;
  /** When given, a lopsided split tightens the fuller half to the keys that occur (see buildHistogram). */
  extent?: RangeExtent;
}

export interface Histogram {
  /** Contiguous, in key order, covering [lo, hi). */
  pieces: Piece[];
  probes: number;
}

/** Splits [lo, hi) at its midpoint; null for a single key. */
export function halves(lo: bigint, hi: bigint): [bigint, bigint, bigint] | null {
  if (hi - lo < 2n) return null;
  return [lo, lo + (hi - lo) / 2n, hi];
}

/**
 * Bisects the key space at numeric midpoints until every piece is estimated at most maxPieceEst or is one key.
 * Empty stretches (the gaps of a sparse key) stop at the first estimate that finds nothing, so the cost is the
 * number of pieces (about total / maxPieceEst) plus a descent of up to 64 levels per edge of a dense cluster: the
 * midpoints of [1, 2^64) reach a cluster of 2^23 ids in 41 halvings. With `extent`, a split whose halves differ by
 * more than 8x (an edge, or a gap) shrinks each half still to be split to the keys that actually occur in it (the
 * rest becomes an empty piece, no estimate needed), so a descent takes a few splits instead of tens.
 * Each leaf keeps its own estimate: the estimate of a long range is the worse one (InnoDB caps any range at half
 * the table), so the leaves, all small, are what the histogram is made of. Null when maxProbes is exceeded.
 */
export async function buildHistogram(o: HistogramOptions): Promise<Histogram | null> {
  if (o.hi <= o.lo) throw new Error(`empty key space [${o.lo}, ${o.hi})`);
  let probes = 1;
  const pre = o.prefix ? { prefix: o.prefix } : {};
  const root: Piece = { lo: o.lo, hi: o.hi, est: await o.estimate(o.lo, o.hi, o.prefix), ...pre };
  const tighten = async (p: Piece): Promise<Piece[]> => {
    if (!o.extent || p.est <= o.maxPieceEst) return [p];
    probes += 2;
    const ext = await o.extent(p.lo, p.hi, o.prefix);
    if (!ext) return [{ ...p, est: 0 }];
    const [first, last] = ext;
    const out: Piece[] = [];
    if (first > p.lo) out.push({ lo: p.lo, hi: first, est: 0, ...pre });
    out.push({ lo: first, hi: last + 1n, est: p.est, ...pre });
    if (last + 1n < p.hi) out.push({ lo: last + 1n, hi: p.hi, est: 0, ...pre });
    return out;
  };
  const done: Piece[] = [];
  // Depth-first, left first, so `done` comes out in key order.
  const stack: Piece[] = [root];
  while (stack.length > 0) {
    const p = stack.pop() as Piece;
    const h = p.est > o.maxPieceEst ? halves(p.lo, p.hi) : null;
    if (!h) {
      done.push(p);
      continue;
    }
    probes += 2;
    if (probes > o.maxProbes) return null;
    const [a, m, b] = h;
    const [l, r] = await Promise.all([o.estimate(a, m, o.prefix), o.estimate(m, b, o.prefix)]);
    let children: Piece[] = [
      { lo: a, hi: m, est: l, ...pre },
      { lo: m, hi: b, est: r, ...pre },
    ];
    if (Math.min(l, r) * 8 < Math.max(l, r)) children = (await Promise.all(children.map(tighten))).flat();
    stack.push(...children.reverse());
  }
  return { pieces: done, probes };
}

/**
 * A piece's two halves, their estimates rescaled to sum to the parent's (both zero: an even split of nothing), so
 * refining one piece moves no other cut. Used on leaves only, whose estimates are never capped.
 */
export async function split(p: Piece, h: [bigint, bigint, bigint], estimate: RangeEstimate): Promise<[Piece, Piece]> {
  const [a, m, b] = h;
  const [l, r] = await Promise.all([estimate(a, m, p.prefix), estimate(m, b, p.prefix)]);
  const sum = l + r;
  const share = sum > 0 ? l / sum : 0.5;
  const pre = p.prefix ? { prefix: p.prefix } : {};
  return [
    { lo: a, hi: m, est: p.est * share, ...pre },
    { lo: m, hi: b, est: p.est * (1 - share), ...pre },
  ];
}

export const totalEst = (pieces: Piece[]) => pieces.reduce((s, p) => s + p.est, 0);

/**
 * Partitions for `rows` rows of about `step` each, as the exact walk cuts them: a remainder under half a step joins
 * its neighbour; at least one, at most maxPartitions.
 */
export function partitionCount(rows: number, o: { step: number; maxPartitions: number }): number {
  const step = Math.max(1, o.step);
  return Math.max(1, Math.min(o.maxPartitions, Math.round(rows / step)));
}

/** The estimate below `key` (keys < key), interpolating linearly inside the piece that holds it. */
export function estBelow(pieces: Piece[], key: bigint): number {
  let sum = 0;
  for (const p of pieces) {
    if (key >= p.hi) sum += p.est;
    else if (key > p.lo) return sum + p.est * ratio(key - p.lo, p.hi - p.lo);
    else return sum;
  }
  return sum;
}

/** Index of the piece where the running sum of estimates reaches `target`, and the sum before it. */
export function pieceAt(pieces: Piece[], target: number): { index: number; before: number } {
  let before = 0;
  for (const [index, p] of pieces.entries()) {
    if (before + p.est >= target && p.est > 0) return { index, before };
    before += p.est;
  }
  return { index: pieces.length - 1, before: before - (pieces.at(-1)?.est ?? 0) };
}

/**
 * The key where the running sum of estimates reaches `target`: interpolated inside its piece, so the error is at
 * most that piece's estimate (refineAt makes that piece small first).
 */
export function keyAt(pieces: Piece[], target: number): bigint {
  const { index, before } = pieceAt(pieces, target);
  const p = pieces[index] as Piece;
  const width = p.hi - p.lo;
  const into = p.est > 0 ? Math.min(1, Math.max(0, (target - before) / p.est)) : 0;
  // Float precision is enough here: the offset only picks where to read the next real key.
  const offset = BigInt(Math.round(into * Number(width)));
  return p.lo + (offset >= width ? width - 1n : offset);
}

/**
 * Bisects the piece holding `target` until it is estimated at most `maxEst` (or is one key), in place, so the cut
 * at `target` lands within about maxEst of the estimated position. Returns the estimates spent.
 */
export async function refineAt(pieces: Piece[], target: number, maxEst: number, estimate: RangeEstimate): Promise<number> {
  let probes = 0;
  for (let guard = 0; guard < 130; guard++) {
    const { index } = pieceAt(pieces, target);
    const p = pieces[index] as Piece;
    const h = p.est > maxEst ? halves(p.lo, p.hi) : null;
    if (!h) break;
    pieces.splice(index, 1, ...(await split(p, h, estimate)));
    probes += 2;
  }
  return probes;
}

/** Targets of the n - 1 cuts between n equal shares of the histogram's total. */
export function cutTargets(total: number, n: number): number[] {
  return Array.from({ length: Math.max(0, n - 1) }, (_, i) => (total * (i + 1)) / n);
}

/** One cut: where the running estimate reaches `target`, in the piece that holds it, `into` that piece's estimate. */
export interface Cut {
  target: number;
  key: bigint;
  piece: Piece;
  into: number;
}

/**
 * The n - 1 cuts that split the histogram into n equal shares of its estimate, each piece holding a cut first
 * refined to at most refineEst. Keys non-decreasing; the caller snaps each to the first real key at or after it (or,
 * inside a single value holding many rows of a composite key, dives `into` that value).
 */
export async function cutKeys(
  pieces: Piece[],
  o: { n: number; refineEst: number; estimate: RangeEstimate },
): Promise<{ cuts: Cut[]; probes: number }> {
  const targets = cutTargets(totalEst(pieces), o.n);
  let probes = 0;
  for (const target of targets) probes += await refineAt(pieces, target, o.refineEst, o.estimate);
  const cuts = targets.map((target) => {
    const { index, before } = pieceAt(pieces, target);
    return { target, key: keyAt(pieces, target), piece: pieces[index] as Piece, into: target - before };
  });
  return { cuts, probes };
}

/** a / b for bigints whose quotient is in [0, 1], computed without losing the fraction to integer division. */
function ratio(a: bigint, b: bigint): number {
  const shift = b > 2n ** 52n ? b / 2n ** 52n : 1n;
  return Number(a / shift) / Number(b / shift);
}
