/**
 * Generated call-log rows exactly as mysql2 delivers them with MYSQL_SOURCE_OPTIONS (rowsAsArray, supportBigNumbers,
 * dateStrings, decimal as text): id BIGINT UNSIGNED (some above 2^53, then a decimal string), customer_id INT (skewed),
 * caller/callee VARCHAR(20), started_at DATETIME(3), duration_s INT, cost DECIMAL(10,4), status ENUM, notes VARCHAR(200) NULL.
 */
import type { ColumnSpec } from "../../lib/output/encode/column-spec.ts";

export const callLogColumns: ColumnSpec[] = [
  col("id", "uint64", false),
  col("customer_id", "int32", false),
  col("caller", "text", false),
  col("callee", "text", false),
  { ...col("started_at", "datetime", true), fsp: 3 },
  col("duration_s", "int32", false),
  { ...col("cost", "decimal", false), precision: 10, scale: 4 },
  col("status", "enum", false),
  col("notes", "text", true),
];

function col(name: string, kind: ColumnSpec["kind"], nullable: boolean): ColumnSpec {
  return {
    name,
    kind,
    nullable,
    precision: 0,
    scale: 0,
    fsp: 0,
    bits: 0,
    sourceType: kind,
  };
}

/** Deterministic xorshift32. */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const POOL = 1 << 16;
const statuses = ["answered", "busy", "failed", "no-answer", "voicemail"];

/** Makes `total` rows in batches of `batch` (as a driver stream would hand them over). Strings come from a pool. */
export function* callLogBatches(total: number, batch = 1000, seed = 7): Generator<unknown[][]> {
  const r = rng(seed);
  const phone = () => `+1${String(Math.floor(2000000000 + r() * 7999999999))}`;
  const callers = Array.from({ length: POOL }, phone);
  const callees = Array.from({ length: POOL }, phone);
  const base = Date.UTC(2024, 0, 1);
  const starts = Array.from({ length: POOL }, () => {
    const d = new Date(base + Math.floor(r() * 365 * 86400_000));
    return d.toISOString().slice(0, 23).replace("T", " ");
  });
  const costs = Array.from({ length: POOL }, () => (r() * 999).toFixed(4));
  const notes = Array.from({ length: POOL }, (_, i) =>
    i % 3 === 0 ? null : `call note ${i} ${"lorem ipsum dolor sit amet ".repeat(1 + (i % 5))}`.slice(0, 200),
  );
  const big = 2n ** 63n;
  let id = 1;
  for (let done = 0; done < total; ) {
    const n = Math.min(batch, total - done);
    const rows: unknown[][] = new Array(n);
    for (let i = 0; i < n; i++, id++) {
      const p = id & (POOL - 1);
      // Every 10th id lives above 2^53 (as mysql2 delivers it: exact decimal text).
      const idv = id % 10 === 0 ? (big + BigInt(id)).toString() : id;
      const u = r();
      const customer = u < 0.5 ? 1 + Math.floor(u * 20) : Math.floor(u * u * 1_000_000);
      rows[i] = [
        idv,
        customer,
        callers[p],
        callees[(p * 7) & (POOL - 1)],
        starts[p],
        Math.floor(r() * 3600),
        costs[p],
        statuses[p % 5],
        notes[p],
      ];
    }
    done += n;
    yield rows;
  }
}
