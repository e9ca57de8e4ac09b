import type { Connection } from "mysql2/promise";
import type { KeyColumn, SourceKey } from "../../config/records.ts";
import { queryText } from "../../lib/mysql/connect.ts";
import { and, compareKey, type Fragment, orderBy, placeholder, quoteIdent, selectExpr, selectKey } from "../../lib/mysql/key-sql.ts";
import { type Boundaries, edgeKey, type WalkTarget } from "./boundaries.ts";
import { type KeySpaceCodec, keySpaceCodec } from "./key-space.ts";
import { buildHistogram, type Cut, cutKeys, type Piece, partitionCount, totalEst } from "./quantiles.ts";

/** Tables the optimizer puts at or under this many rows are walked exactly: the walk costs tens of milliseconds. */
export const EXACT_WALK_MAX_ROWS = 250_000;
/** Histogram pieces per partition: a cut can be off by about one piece before refinement. */
const PIECES_PER_PARTITION = 4;
/**
 * The smallest piece the histogram is built from, in estimate units. InnoDB estimates a range within ~10 leaf pages
 * exactly and doubles its estimate of a wider one, and at most ~800 entries fit a 16 KB page, so pieces of 20k rows
 * or more all carry the same factor; finer pieces (a small table cut into small partitions) would mix exact and
 * doubled estimates and skew the shares by up to 2x. Cuts are still placed finely: refineAt rescales its halves to
 * their parent, so their factor cancels.
 */
const MIN_PIECE_EST = 40_000;
/** How much finer the piece holding a cut is made (refineAt): the cut then lands within 1/16 of a piece. */
const REFINE = 16;
/** Beyond this many estimates (plus a budget per partition) the histogram is abandoned for the walk. */
const MAX_PROBES = 20_000;
/**
 * Once heavy values were counted, the rows around them are counted too when they are this many partitions' worth or
 * fewer, in at most REST_COUNT_PIECES statements: otherwise the table estimate's error (~10% of the whole table)
 * lands entirely on that small rest and its partitions come out far larger than the counted ones.
 */
const REST_COUNT_STEPS = 4;
const REST_COUNT_PIECES = 256;

export interface EstimateOptions {
  step: number;
  maxPartitions: number;
  /** At or under this many rows (the optimizer's estimate), null: the caller walks instead. */
  exactWalkMaxRows: number;
}

const from = (t: WalkTarget) => `FROM ${quoteIdent(t.database)}.${quoteIdent(t.table)} FORCE INDEX (${quoteIdent(t.index)})`;
const depth = (p: Piece) => p.prefix?.length ?? 0;

/** The optimizer's row estimate of a statement (EXPLAIN's `rows`; InnoDB: two B-tree descents, no rows read). */
async function explainRows(conn: Connection, q: Fragment): Promise<number> {
  const [rows] = await conn.query({ sql: `EXPLAIN ${q.sql}`, values: q.params });
  const first = (rows as Record<string, unknown>[])[0];
  return Number(first?.rows ?? 0) || 0;
}

/** Statements over one key column under a prefix of fixed values of the columns before it. */
function columnSql(conn: Connection, t: WalkTarget, codecs: (KeySpaceCodec | null)[]) {
  const fixed = (prefix: string[] = []): Fragment[] =>
    prefix.map((v, i) => {
      const c = t.columns[i] as KeyColumn;
      return { sql: `${quoteIdent(c.name)} = ${placeholder(c)}`, params: [v] };
    });
  const range = (d: number, lo: bigint | null, hi: bigint | null): Fragment | null => {
    if (lo === null || hi === null) return null;
    const c = t.columns[d] as KeyColumn;
    const codec = codecs[d] as KeySpaceCodec;
    const q = quoteIdent(c.name);
    return { sql: `${q} >= ${placeholder(c)} AND ${q} <= ${placeholder(c)}`, params: [codec.fromInt(lo), codec.fromInt(hi - 1n)] };
  };
  /** First or last value of the column (under the prefix, within [lo, hi) if given). */
  const edge = async (prefix: string[], lo: bigint | null, hi: bigint | null, dir: "ASC" | "DESC") => {
    const d = prefix.length;
    const c = t.columns[d] as KeyColumn;
    const where = and(...fixed(prefix), range(d, lo, hi));
    const [row] = await queryText(conn, {
      sql: `SELECT ${selectExpr(c)} ${from(t)} WHERE ${where.sql} ORDER BY ${quoteIdent(c.name)} ${dir} LIMIT 1`,
      params: where.params,
    });
    return row?.[0] == null ? null : (codecs[d] as KeySpaceCodec).toInt(row[0]);
  };
  const extent = async (prefix: string[], lo: bigint | null, hi: bigint | null): Promise<[bigint, bigint] | null> => {
    const first = await edge(prefix, lo, hi, "ASC");
    const last = first === null ? null : await edge(prefix, lo, hi, "DESC");
    return first === null || last === null ? null : [first, last];
  };
  return {
    fixed,
    range,
    extent,
    estimate: (lo: bigint, hi: bigint, prefix: string[] = []) => {
      const where = and(...fixed(prefix), range(prefix.length, lo, hi));
      return explainRows(conn, { sql: `SELECT 1 ${from(t)} WHERE ${where.sql}`, params: where.params });
    },
  };
}
type ColumnSql = ReturnType<typeof columnSql>;

/**
 * Partition boundaries from the optimizer's range estimates instead of a pass over the index: a histogram of the
 * leading key column (as integers: key-space.ts) from `EXPLAIN ... WHERE lead BETWEEN a AND b` over a bisection of
 * its values (quantiles.ts), cut into equal shares, each cut snapped to the first real key at or after it by one
 * index lookup. Boundaries are therefore exact keys read from the index, compared by the server; only the
 * per-partition row counts are estimates (the splitter corrects a partition that turns out larger at run time).
 * A leading value of a composite key holding more than a piece is bisected on the next column under that value
 * (and so on); if that column has no integer map, the value is counted and cut by dives into it alone.
 *
 * Null, and the caller walks the index exactly (walkBoundaries), when: a filter applies (range estimates ignore it),
 * the leading key column has no integer map (strings, binary, TIME, TIMESTAMP), the table is small
 * (exactWalkMaxRows), or the histogram takes more than its budget of estimates.
 */
export async function estimateBoundaries(conn: Connection, t: WalkTarget, o: EstimateOptions): Promise<Boundaries | null> {
  const codecs = t.columns.map(keySpaceCodec);
  const codec = codecs[0];
  if (t.filter || !codec) return null;
  const tableRows = await explainRows(conn, { sql: `SELECT 1 ${from(t)}`, params: [] });
  if (tableRows <= o.exactWalkMaxRows) return null;
  const lowKey = await edgeKey(conn, t, "ASC");
  const highWatermark = await edgeKey(conn, t, "DESC");
  if (!lowKey || !highWatermark) return { lowKey: null, highWatermark: null, bounds: [], rows: [], dives: 2, estimated: true, probes: 1 };
  const n = partitionCount(tableRows, o);
  if (n === 1) return { lowKey, highWatermark, bounds: [], rows: [tableRows], dives: 2, estimated: true, probes: 1 };
  const lo = codec.toInt(lowKey[0] as string);
  const hi = codec.toInt(highWatermark[0] as string);
  if (lo === null || hi === null) return null;

  const sql = columnSql(conn, t, codecs);
  // InnoDB doubles the estimate of any range wider than a few pages, so a piece of tableRows / (n * PIECES) rows is
  // estimated at about twice that; and below half the table, the most InnoDB estimates any range at, so a capped
  // piece is still split.
  const maxPieceEst = Math.min(tableRows / 4, Math.max(MIN_PIECE_EST, (2 * tableRows) / (n * PIECES_PER_PARTITION)));
  const budget = { left: MAX_PROBES + 4 * PIECES_PER_PARTITION * n, used: 1 };
  const build = async (space: { lo: bigint; hi: bigint; prefix?: string[] }) => {
    const hist = await buildHistogram({
      ...space,
      maxPieceEst,
      maxProbes: budget.left - budget.used,
      estimate: sql.estimate,
      extent: (a, b, prefix) => sql.extent(prefix ?? [], a, b),
    });
    if (hist) budget.used += hist.probes;
    return hist?.pieces ?? null;
  };
  const top = await build({ lo, hi: hi + 1n });
  if (!top) return null;
  const heavy = (p: Piece) => p.hi - p.lo === 1n && p.est > maxPieceEst && depth(p) + 1 < t.columns.length;
  const pieces = await expandHeavy(top, { heavy, codecs, sql, build });
  if (!pieces) return null;
  const { counted, rows } = await weighHeavy(conn, t, { pieces, heavy, tableRows, step: o.step, codecs, sql });
  const cuts = await cutKeys(pieces, { n, refineEst: maxPieceEst / REFINE, estimate: sql.estimate });
  const rowsPerEst = rows / (totalEst(pieces) || 1);
  const cut = await boundsFromCuts(conn, t, {
    cuts: cuts.cuts,
    heavy: (p) => counted.has(p),
    rowsPerEst,
    codecs,
    lowKey,
    highWatermark,
  });
  const at = [0, ...cut.positions, totalEst(pieces)];
  return {
    lowKey,
    highWatermark,
    bounds: cut.bounds,
    rows: at.slice(1).map((e, i) => Math.max(1, Math.round(rowsPerEst * (e - (at[i] as number))))),
    dives: 2 + counted.size + cut.dives,
    estimated: true,
    probes: budget.used + cuts.probes,
  };
}

/**
 * Replaces each heavy piece (one value of a composite key's column, estimated above a piece's worth, which no
 * bisection of that column splits; its estimate may also be capped) by a histogram of the next column under that
 * value, when the next column has an integer map; recursively. Null when the estimate budget runs out.
 */
async function expandHeavy(
  pieces: Piece[],
  o: {
    heavy: (p: Piece) => boolean;
    codecs: (KeySpaceCodec | null)[];
    sql: ColumnSql;
    build: (space: { lo: bigint; hi: bigint; prefix: string[] }) => Promise<Piece[] | null>;
  },
): Promise<Piece[] | null> {
  const out: Piece[] = [];
  for (const p of pieces) {
    const d = depth(p);
    if (!o.heavy(p) || !o.codecs[d + 1]) {
      out.push(p);
      continue;
    }
    const prefix = [...(p.prefix ?? []), (o.codecs[d] as KeySpaceCodec).fromInt(p.lo)];
    const ext = await o.sql.extent(prefix, null, null);
    if (!ext) {
      out.push({ ...p, est: 0 });
      continue;
    }
    const sub = await o.build({ lo: ext[0], hi: ext[1] + 1n, prefix });
    const expanded = sub && (await expandHeavy(sub, o));
    if (!expanded) return null;
    out.push(...expanded);
  }
  return out;
}

/**
 * Heavy pieces left after expandHeavy (the next column has no integer map): each is counted exactly, reading that
 * value's entries as the dives into it will, and its estimate set from the count in the units of the other pieces,
 * so the cuts share the table out by rows. Returns the pieces counted and the table's rows: the optimizer's
 * estimate, or exact when the rest was small enough to count as well (countRest).
 */
async function weighHeavy(
  conn: Connection,
  t: WalkTarget,
  o: { pieces: Piece[]; heavy: (p: Piece) => boolean; tableRows: number; step: number; codecs: (KeySpaceCodec | null)[]; sql: ColumnSql },
): Promise<{ counted: Set<Piece>; rows: number }> {
  const heavy = new Set(o.pieces.filter(o.heavy));
  if (heavy.size === 0) return { counted: heavy, rows: o.tableRows };
  let heavyRows = 0;
  const counted = new Map<Piece, number>();
  for (const p of heavy) {
    const where = and(...o.sql.fixed(pieceValue(p, o.codecs)));
    const [row] = await queryText(conn, { sql: `SELECT COUNT(*) ${from(t)} WHERE ${where.sql}`, params: where.params });
    counted.set(p, Number(row?.[0] ?? 0));
    heavyRows += counted.get(p) as number;
  }
  const rest = o.pieces.filter((p) => !heavy.has(p));
  const restEst = rest.reduce((sum, p) => sum + p.est, 0);
  const guess = Math.max(1, o.tableRows - heavyRows);
  const exact =
    guess <= REST_COUNT_STEPS * o.step ? await countRest(conn, t, { rest, cap: 2 * REST_COUNT_STEPS * o.step, sql: o.sql }) : null;
  const restRows = Math.max(1, exact ?? guess);
  const estPerRow = restEst > 0 ? restEst / restRows : 1;
  for (const [p, rows] of counted) p.est = rows * estPerRow;
  return { counted: heavy, rows: exact === null ? o.tableRows : heavyRows + exact };
}

/** The rows of the pieces, counted exactly (each count capped); null past `cap` rows or REST_COUNT_PIECES pieces. */
async function countRest(conn: Connection, t: WalkTarget, o: { rest: Piece[]; cap: number; sql: ColumnSql }): Promise<number | null> {
  if (o.rest.length > REST_COUNT_PIECES) return null;
  let total = 0;
  for (const p of o.rest) {
    const where = and(...o.sql.fixed(p.prefix ?? []), o.sql.range(depth(p), p.lo, p.hi));
    const [row] = await queryText(conn, {
      sql: `SELECT COUNT(*) FROM (SELECT 1 ${from(t)} WHERE ${where.sql} LIMIT ${o.cap - total + 1}) AS capped`,
      params: where.params,
    });
    total += Number(row?.[0] ?? 0);
    if (total > o.cap) return null;
  }
  return total;
}

/** The texts of a one-value piece's prefix and value. */
const pieceValue = (p: Piece, codecs: (KeySpaceCodec | null)[]) => [...(p.prefix ?? []), (codecs[depth(p)] as KeySpaceCodec).fromInt(p.lo)];

/**
 * Real keys for the cuts, and each one's position in the histogram (for the partitions' estimated rows). A cut is
 * snapped to the first key at or after (prefix, value); a cut inside a counted heavy value is found by an index dive
 * `into` that value (chained from the previous cut in the same value, so several cuts in one value read its entries
 * once, as the walk would).
 */
async function boundsFromCuts(
  conn: Connection,
  t: WalkTarget,
  o: {
    cuts: Cut[];
    heavy: (p: Piece) => boolean;
    rowsPerEst: number;
    codecs: (KeySpaceCodec | null)[];
    lowKey: SourceKey;
    highWatermark: SourceKey;
  },
): Promise<{ bounds: SourceKey[]; positions: number[]; dives: number }> {
  const bounds: SourceKey[] = [];
  const positions: number[] = [];
  let dives = 0;
  let inValue: { piece: Piece; key: SourceKey; rows: number } | null = null;
  for (const c of o.cuts) {
    const p = c.piece;
    const start = c.target - c.into;
    let key: SourceKey | null = null;
    let position = start;
    dives++;
    if (o.heavy(p)) {
      const rows = Math.round(c.into * o.rowsPerEst);
      const prev = inValue?.piece === p ? inValue : null;
      key = await diveInValue(conn, t, { value: pieceValue(p, o.codecs), after: prev?.key ?? null, offset: rows - (prev?.rows ?? 0) });
      if (key) {
        inValue = { piece: p, key, rows };
        position = c.target;
      } else {
        // Fewer rows in the value than estimated: the cut moves to the first key after it.
        position = start + p.est;
      }
    }
    if (!key) {
      key = await snap(conn, t, { piece: p, at: o.heavy(p) ? p.hi : c.key, codecs: o.codecs, highWatermark: o.highWatermark });
      if (key && !o.heavy(p)) position = estPosition(c, key, o.codecs);
    }
    const prev = bounds.at(-1) ?? o.lowKey;
    if (key && JSON.stringify(key) !== JSON.stringify(prev)) {
      bounds.push(key);
      positions.push(position);
    }
  }
  return { bounds, positions, dives };
}

/** The first key at or after (the piece's prefix, `at`) in index order, up to the watermark: a real key. */
async function snap(
  conn: Connection,
  t: WalkTarget,
  o: { piece: Piece; at: bigint; codecs: (KeySpaceCodec | null)[]; highWatermark: SourceKey },
): Promise<SourceKey | null> {
  const d = depth(o.piece);
  const start = [...(o.piece.prefix ?? []), (o.codecs[d] as KeySpaceCodec).fromInt(o.at)];
  const where = and(compareKey(t.columns.slice(0, d + 1), ">=", start), compareKey(t.columns, "<=", o.highWatermark));
  const [row] = await queryText(conn, {
    sql: `SELECT ${selectKey(t.columns)} ${from(t)} WHERE ${where.sql} ${orderBy(t.columns)} LIMIT 1`,
    params: where.params,
  });
  return row?.every((v) => v !== null) ? (row as string[]) : null;
}

/** Where a snapped key sits in the histogram: interpolated in the cut's piece, or the piece's end past it. */
function estPosition(c: Cut, key: SourceKey, codecs: (KeySpaceCodec | null)[]): number {
  const p = c.piece;
  const d = depth(p);
  const start = c.target - c.into;
  const samePrefix = (p.prefix ?? []).every((v, i) => key[i] === v);
  const value = samePrefix ? (codecs[d] as KeySpaceCodec).toInt(key[d] as string) : null;
  if (value === null || value >= p.hi) return start + p.est;
  if (value <= p.lo) return start;
  return start + (p.est * Number(value - p.lo)) / Number(p.hi - p.lo);
}

/** The key `offset` entries into one value (after `after`, else from its first key); null past its end. */
async function diveInValue(
  conn: Connection,
  t: WalkTarget,
  o: { value: string[]; after: SourceKey | null; offset: number },
): Promise<SourceKey | null> {
  const fixed = o.value.map((v, i): Fragment => {
    const c = t.columns[i] as KeyColumn;
    return { sql: `${quoteIdent(c.name)} = ${placeholder(c)}`, params: [v] };
  });
  const where = and(...fixed, o.after ? compareKey(t.columns, ">", o.after) : null);
  const offset = Math.max(0, o.offset - (o.after ? 1 : 0));
  const [row] = await queryText(conn, {
    sql: `SELECT ${selectKey(t.columns)} ${from(t)} WHERE ${where.sql} ${orderBy(t.columns)} LIMIT 1 OFFSET ${offset}`,
    params: where.params,
  });
  return row?.every((v) => v !== null) ? (row as string[]) : null;
}
