import type { Pool } from "mysql2";
import type { Connection } from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { EnrichSpec } from "../../config/incremental-spec.ts";
import { UserError } from "../errors.ts";
import { type ColumnSpec, columnsFromFields, type MysqlField, type Row } from "../output/encode/index.ts";
import { placeholder, quoteIdent } from "./key-sql.ts";
import { column, describeTable, keyColumnOf, type TableInfo } from "./schema.ts";

/**
 * Enrichment: columns looked up in other tables by key, filled into each batch of source rows before it reaches the
 * encoder. One `SELECT key, cols FROM remote WHERE key IN (?, ?, ...)` per lookup per batch (up to LOOKUP_CHUNK
 * distinct keys per statement), on the agent's own connection pool, never one query per row; the partition predicate
 * stays on the driving table's key. The remote key must be a single-column unique index, so each row matches at
 * most one remote row (a row without a match gets NULLs, as in a LEFT JOIN). Keys are matched on their exact text
 * (CAST(... AS CHAR)); string keys under a case-insensitive collation therefore match only with the same spelling.
 */
export interface ResolvedEnrichment {
  spec: EnrichSpec;
  database: string;
  table: string;
  remoteKey: string;
  /** Typed placeholder for one remote key value (CAST(? AS UNSIGNED), ...). */
  keyPlaceholder: string;
  columns: string[];
  /** Names of the added columns in the output (prefix + column). */
  outNames: string[];
  /** The driving table's column holding the key (catalogue spelling). */
  local: string;
}

export const LOOKUP_CHUNK = 500;

/** Validates every enrichment against information_schema (tables, columns, the unique remote key, name clashes). */
export async function resolveEnrichment(
  conn: Connection,
  spec: ExportSpec,
  driving: TableInfo,
  exported: string[],
): Promise<ResolvedEnrichment[]> {
  const out: ResolvedEnrichment[] = [];
  const taken = new Set(exported.map((c) => c.toLowerCase()));
  for (const [i, e] of (spec.enrich ?? []).entries()) {
    const where = `enrich[${i}]`;
    const info = await describeTable(conn, e.database ?? spec.source.database, e.table).catch((cause) => {
      throw cause instanceof UserError
        ? new UserError(`${where}: ${cause.message}`)
        : new Error(`${where}: reading information_schema`, { cause });
    });
    const local = column(driving, e.key.local, `${where}.key.local`).name;
    const remote = column(info, e.key.remote, `${where}.key.remote`);
    const unique = info.indexes.some((ix) => ix.unique && ix.columns.length === 1 && ix.columns[0] === remote.name);
    if (!unique)
      throw new UserError(
        `${where}.key.remote: ${info.database}.${info.table}.${remote.name} is not a single-column unique key, so a row could match several rows; ` +
          `add a UNIQUE index on it or look up by another column`,
      );
    const kc = keyColumnOf(remote);
    if (typeof kc === "string") throw new UserError(`${where}.key.remote: ${kc}`);
    const columns = e.columns.map((c, j) => column(info, c, `${where}.columns[${j}]`).name);
    const outNames = columns.map((c) => `${e.as ?? ""}${c}`);
    for (const n of outNames) {
      if (taken.has(n.toLowerCase()))
        throw new UserError(`${where}: the added column ${n} clashes with another output column; set \`as\` to a prefix`);
      taken.add(n.toLowerCase());
    }
    out.push({
      spec: e,
      database: info.database,
      table: info.table,
      remoteKey: remote.name,
      keyPlaceholder: placeholder(kc),
      columns,
      outNames,
      local,
    });
  }
  return out;
}

/** Where the enrichment lives in a source row: its output slots and the index of each lookup's local key. */
export interface EnrichLayout {
  /** Index of the first added column in a row (right after the exported columns). */
  offset: number;
  /** Per lookup: index of the local key value in the row. */
  localIndex: number[];
}

export class Enricher {
  /** The source's current pool (a new one after a password rotation). */
  private readonly pool: () => Pool;
  private readonly lookups: ResolvedEnrichment[];
  private readonly layout: EnrichLayout;
  private specs: ColumnSpec[] | null = null;
  /** Lookup statements issued and keys looked up, for tests and the benchmark. */
  readonly stats = { queries: 0, keys: 0 };

  constructor(pool: () => Pool, lookups: ResolvedEnrichment[], layout: EnrichLayout) {
    this.pool = pool;
    this.lookups = lookups;
    this.layout = layout;
  }

  get width(): number {
    return this.lookups.reduce((a, l) => a + l.columns.length, 0);
  }

  /** The added columns' types from the driver's field metadata (renamed, and nullable: a key may have no match). */
  async columns(): Promise<ColumnSpec[]> {
    if (this.specs) return this.specs;
    const specs: ColumnSpec[] = [];
    for (const l of this.lookups) {
      const [, fields] = await this.pool()
        .promise()
        .query({ sql: `SELECT ${l.columns.map(quoteIdent).join(", ")} FROM ${quoteIdent(l.database)}.${quoteIdent(l.table)} LIMIT 0` });
      for (const [j, c] of columnsFromFields(fields as unknown as MysqlField[]).entries())
        specs.push({ ...c, name: l.outNames[j]!, nullable: true });
    }
    this.specs = specs;
    return specs;
  }

  /** Fills the added columns of every row of `batch` in place. */
  async fill(batch: Row[]): Promise<void> {
    let slot = this.layout.offset;
    for (const [i, l] of this.lookups.entries()) {
      const at = this.layout.localIndex[i]!;
      const wanted = new Map<string, unknown>();
      for (const row of batch) {
        const v = row[at];
        if (v !== null && v !== undefined) wanted.set(String(v), v);
      }
      const found = new Map<string, unknown[]>();
      const keys = [...wanted.keys()];
      for (let s = 0; s < keys.length; s += LOOKUP_CHUNK) {
        const part = keys.slice(s, s + LOOKUP_CHUNK);
        const sql =
          `SELECT CAST(${quoteIdent(l.remoteKey)} AS CHAR), ${l.columns.map(quoteIdent).join(", ")} ` +
          `FROM ${quoteIdent(l.database)}.${quoteIdent(l.table)} WHERE ${quoteIdent(l.remoteKey)} IN (${part.map(() => l.keyPlaceholder).join(", ")})`;
        let rows: unknown[][];
        try {
          [rows] = (await this.pool().promise().query({ sql, values: part, rowsAsArray: true })) as unknown as [unknown[][]];
        } catch (cause) {
          throw new Error(`looking up ${part.length} keys in ${l.database}.${l.table}.${l.remoteKey} for enrichment`, { cause });
        }
        this.stats.queries++;
        this.stats.keys += part.length;
        for (const r of rows) found.set(String(r[0]), r.slice(1));
      }
      const width = l.columns.length;
      for (const row of batch) {
        const v = row[at];
        const hit = v === null || v === undefined ? undefined : found.get(String(v));
        for (let j = 0; j < width; j++) (row as unknown[])[slot + j] = hit ? hit[j] : null;
      }
      slot += width;
    }
  }
}
