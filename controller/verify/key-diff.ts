/**
 * Narrows a mismatch down to the keys that differ without holding every key: both sides are hash-partitioned on the
 * MD5 of the key text into 256 buckets (count and hash sum each), only the buckets whose figures differ are split
 * again on the next two hex digits, and a bucket is listed row by row only once both sides hold at most `leafRows`
 * rows in it. Memory is bounded by 256 figures per level and `leafRows` rows per side, whatever the table's size.
 */
export interface Figure {
  rows: number;
  sum: bigint;
}

export const ZERO: Figure = { rows: 0, sum: 0n };
export const sameFigure = (a: Figure, b: Figure) => a.rows === b.rows && a.sum === b.sum;

/** One side of a comparison (the source's SQL, or DuckDB over the objects), restricted to a bucket path. */
export interface DigestSide {
  /** Figures of the rows under `path` (two hex digits of the key's MD5 per level), grouped by the next bucket. */
  buckets(path: string): Promise<Map<string, Figure>>;
  /** Every row under `path`: its key text and row hash (decimal). */
  rows(path: string): Promise<{ key: string; hash: string }[]>;
}

export type KeyProblem = "missing in S3" | "not in the source" | "different content" | "duplicated in S3";

export interface KeyDiff {
  key: string;
  problem: KeyProblem;
  /** Copies in S3 when duplicated or foreign. */
  copies?: number;
}

export interface DiffOptions {
  /** Stop after this many differing keys. */
  limit: number;
  /** List a bucket row by row once neither side holds more than this. */
  leafRows?: number;
}

const MAX_DEPTH = 16;

export async function diffKeys(source: DigestSide, output: DigestSide, totals: { source: Figure; output: Figure }, o: DiffOptions) {
  const found: KeyDiff[] = [];
  const leafRows = o.leafRows ?? 4096;
  const descend = async (path: string, src: Figure, out: Figure): Promise<void> => {
    if (found.length >= o.limit || sameFigure(src, out)) return;
    if (Math.max(src.rows, out.rows) <= leafRows || path.length / 2 >= MAX_DEPTH) {
      compareRows(await source.rows(path), await output.rows(path), found, o.limit);
      return;
    }
    const [s, t] = await Promise.all([source.buckets(path), output.buckets(path)]);
    for (const b of [...new Set([...s.keys(), ...t.keys()])].sort()) {
      await descend(path + b, s.get(b) ?? ZERO, t.get(b) ?? ZERO);
      if (found.length >= o.limit) return;
    }
  };
  await descend("", totals.source, totals.output);
  return found;
}

function compareRows(src: { key: string; hash: string }[], out: { key: string; hash: string }[], found: KeyDiff[], limit: number) {
  const inSource = new Map(src.map((r) => [r.key, r.hash]));
  const inOutput = new Map<string, string[]>();
  for (const r of out) inOutput.set(r.key, [...(inOutput.get(r.key) ?? []), r.hash]);
  const push = (d: KeyDiff) => {
    if (found.length < limit) found.push(d);
  };
  for (const [key, hash] of inSource) {
    const copies = inOutput.get(key);
    if (!copies) push({ key, problem: "missing in S3" });
    else if (copies.length > 1) push({ key, problem: "duplicated in S3", copies: copies.length });
    else if (copies[0] !== hash) push({ key, problem: "different content" });
  }
  for (const [key, copies] of inOutput) if (!inSource.has(key)) push({ key, problem: "not in the source", copies: copies.length });
}

/** Figures of a side's `GROUP BY bucket` answer, rows of (bucket, count, sum) as text or bigint. */
export function figures(rows: unknown[][]): Map<string, Figure> {
  const out = new Map<string, Figure>();
  for (const [b, n, s] of rows) out.set(String(b), { rows: Number(n), sum: BigInt(String(s ?? 0)) });
  return out;
}

/** A bucket path goes into SQL text on the DuckDB side: it must be hex digits only. */
export function checkPath(path: string): string {
  if (!/^[0-9a-f]*$/.test(path) || path.length % 2 !== 0) throw new Error(`bad bucket path ${JSON.stringify(path)}`);
  return path;
}
