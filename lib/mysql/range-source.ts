import type { Pool, PoolConnection } from "mysql2";
import mysql from "mysql2";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { ExportRecord, KeyColumn, SourceKey } from "../../config/records.ts";
import type { Clock } from "../clock.ts";
import {
  type ColumnSpec,
  columnsFromFields,
  MYSQL_SOURCE_OPTIONS,
  type MysqlField,
  RawRows,
  type Row,
  type RowBatch,
  SESSION_INIT_SQL,
} from "../output/encode/index.ts";
import { isAccessDenied, openSource, resolveSourceLogin, type SourceLogin } from "./connect.ts";
import { Enricher, type ResolvedEnrichment, resolveEnrichment } from "./enrich.ts";
import { and, type Fragment, orderBy, quoteIdent, rangePredicate, selectKey } from "./key-sql.ts";
import { RangeReader, type ReaderOptions, type ReadOptions } from "./range-reader.ts";
import { column, describeTable, filterSql } from "./schema.ts";
import { tlsConnectOptions } from "./tls.ts";

/**
 * The agent's source: one small mysql2 pool per agent (never a connection per query), reading a partition's range in
 * key order as ONE streamed query per range rather than keyset pages: the stream pays for one index dive per range
 * instead of one per page and keeps the socket busy (see README, "Source: stream or pages"). The key columns are
 * appended to every row so the cursor is the exact text the planner and the store use.
 */
export interface SourceDeps {
  spec: ExportSpec["source"];
  keyColumns: KeyColumn[];
  /** Columns to export (validated against information_schema at plan time); all columns when undefined. */
  columns: string[];
  filter: Fragment | null;
  clock: Clock;
  env?: Record<string, string | undefined>;
  /** Lookups that add columns after the exported ones (agent/enrich.ts); validated by resolveEnrichment. */
  enrich?: ResolvedEnrichment[];
}

export interface RangeRequest {
  lo: SourceKey | null;
  hi: SourceKey | null;
  cursor: SourceKey | null;
  highWatermark: SourceKey | null;
}

export class MysqlSource {
  private readonly deps: SourceDeps;
  private current: Pool;
  /** Pools replaced after a rotation: their connections may still be streaming, so they end only at close(). */
  private readonly retired: Pool[] = [];
  private generation = 0;
  private relogging: Promise<void> | null = null;
  private readonly select: string;
  private readonly keyWidth: number;
  /** Index of the first key column in a row: after the exported and the enrichment columns. */
  private readonly keyOffset: number;
  private readonly strideWidth: number;
  private columnSpecs: ColumnSpec[] | null = null;
  /** Fills enrichment columns into each batch before it is handed out; null without `enrich`. */
  readonly enricher: Enricher | null;
  /** Times the password was resolved again after MySQL refused it (a rotation). */
  relogins = 0;

  /** Resolves the password (lib/secrets/resolve.ts) and creates the pool with it. */
  static async open(deps: SourceDeps): Promise<MysqlSource> {
    return new MysqlSource(deps, await resolveSourceLogin(deps.spec, deps.env));
  }

  private constructor(deps: SourceDeps, login: SourceLogin) {
    this.deps = deps;
    const s = deps.spec;
    this.current = this.createPool(login);
    const table = `${quoteIdent(s.database)}.${quoteIdent(s.table)}`;
    // Row layout: exported columns, one NULL slot per enrichment column (filled by the Enricher in place, so the
    // encoder sees a plain row), the key's text, then any enrichment key column that is not exported.
    const lookups = deps.enrich ?? [];
    const slots = lookups.reduce((a, l) => a + l.columns.length, 0);
    const hidden = [...new Set(lookups.map((l) => l.local).filter((c) => !deps.columns.includes(c)))];
    this.keyWidth = deps.keyColumns.length;
    this.keyOffset = deps.columns.length + slots;
    const at = (c: string) => (deps.columns.includes(c) ? deps.columns.indexOf(c) : this.keyOffset + this.keyWidth + hidden.indexOf(c));
    this.enricher = lookups.length
      ? new Enricher(() => this.pool, lookups, { offset: deps.columns.length, localIndex: lookups.map((l) => at(l.local)) })
      : null;
    const list = [
      ...deps.columns.map(quoteIdent),
      ...Array.from({ length: slots }, () => "NULL"),
      selectKey(deps.keyColumns),
      ...hidden.map(quoteIdent),
    ];
    this.select = `SELECT ${list.join(", ")} FROM ${table}`;
    this.strideWidth = this.keyOffset + this.keyWidth + hidden.length;
  }

  /** The pool of the current login. */
  get pool(): Pool {
    return this.current;
  }

  private createPool(login: SourceLogin): Pool {
    const s = this.deps.spec;
    const pool = mysql.createPool({
      ...MYSQL_SOURCE_OPTIONS,
      host: login.host,
      port: login.port,
      user: login.user,
      password: login.password,
      database: s.database,
      charset: "UTF8MB4_GENERAL_CI",
      ...tlsConnectOptions(s.tls, login),
      connectionLimit: s.maxConnections,
      maxIdle: s.maxConnections,
      enableKeepAlive: true,
    });
    // Every session reads TIMESTAMP in UTC; DATETIME is zone-less and unaffected.
    pool.on("connection", (conn) => conn.query(SESSION_INIT_SQL));
    return pool;
  }

  /**
   * Runs `fn` on the pool; when MySQL refuses the login (1045: the password was rotated), resolves the password once
   * more, rebuilds the pool and runs `fn` once again. Concurrent refusals share one re-resolution; a second refusal
   * is the caller's error. Sessions already open keep working: MySQL checks the password only at login.
   */
  private async withLogin<T>(fn: (pool: Pool) => Promise<T>): Promise<T> {
    const seen = this.generation;
    try {
      return await fn(this.current);
    } catch (err) {
      if (!isAccessDenied(err)) throw err;
      await this.relogin(seen);
      return fn(this.current);
    }
  }

  private async relogin(seen: number): Promise<void> {
    if (this.generation !== seen) return;
    this.relogging ??= (async () => {
      const login = await resolveSourceLogin(this.deps.spec, this.deps.env);
      this.retired.push(this.current);
      this.current = this.createPool(login);
      this.generation++;
      this.relogins++;
    })().finally(() => {
      this.relogging = null;
    });
    await this.relogging;
  }

  /** Number of output columns (exported + enrichment); each row carries the key's text after them. */
  get width(): number {
    return this.keyOffset;
  }

  /** Values per row of the query: the output columns, the key's text, hidden enrichment keys. */
  get stride(): number {
    return this.strideWidth;
  }

  /** The key of row i of a batch. */
  keyAt(batch: RowBatch, i: number): SourceKey {
    return this.keyOf(batch instanceof RawRows ? batch.row(i) : (batch[i] as Row));
  }

  keyOf(row: Row): SourceKey {
    const key: string[] = new Array(this.keyWidth);
    for (let i = 0; i < this.keyWidth; i++) key[i] = String(row[this.keyOffset + i]);
    return key;
  }

  /** The exported columns' types, from the driver's field metadata of a zero-row query. */
  async columns(): Promise<ColumnSpec[]> {
    if (this.columnSpecs) return this.columnSpecs;
    const [, fields] = await this.withLogin((pool) => pool.promise().query({ sql: `${this.select} LIMIT 0`, rowsAsArray: true }));
    const base = columnsFromFields((fields as unknown as MysqlField[]).slice(0, this.deps.columns.length));
    this.columnSpecs = this.enricher ? [...base, ...(await this.enricher.columns())] : base;
    return this.columnSpecs;
  }

  /**
   * Reads a range in key order, in batches of at most `batchRows` rows and about `batchBytes` bytes on the wire
   * (default 2,048 rows, 4 MiB: a table of 1 MB rows gets batches of 4 rows); resumes after the last key read when
   * the connection is lost. Rows are mysql2's row arrays.
   */
  read(range: RangeRequest, opts: ReadOptions = {}): RangeReader<Row[]> {
    return new RangeReader<Row[]>(this, range, this.readerOptions(opts, false));
  }

  /**
   * read(), with rows as the server sent them (RawRows) for a consumer that reads the bytes itself (the Parquet
   * encoder), or row arrays when the source has enrichment (which fills row arrays).
   */
  readWire(range: RangeRequest, opts: ReadOptions = {}): RangeReader<RowBatch> {
    return new RangeReader<RowBatch>(this, range, this.readerOptions(opts, !this.enricher));
  }

  private readerOptions(opts: ReadOptions, raw: boolean): ReaderOptions {
    return {
      raw,
      batchRows: opts.batchRows ?? 2048,
      batchBytes: opts.batchBytes ?? 4 * 1024 * 1024,
      signal: opts.signal,
      maxRetries: opts.maxRetries ?? 5,
    };
  }

  /** @internal */
  connection(): Promise<PoolConnection> {
    return this.withLogin(
      (pool) => new Promise<PoolConnection>((resolve, reject) => pool.getConnection((err, conn) => (err ? reject(err) : resolve(conn)))),
    );
  }

  /** @internal */
  queryFor(range: RangeRequest, after: SourceKey | null): Fragment {
    const where = and(rangePredicate(this.deps.keyColumns, { ...range, cursor: after ?? range.cursor }), this.deps.filter);
    return { sql: `${this.select} WHERE ${where.sql} ${orderBy(this.deps.keyColumns)}`, params: where.params };
  }

  get rowsPerSecondCap(): number | undefined {
    return this.deps.spec.maxRowsPerSecond;
  }

  get clock(): Clock {
    return this.deps.clock;
  }

  async close(): Promise<void> {
    const pools = [...this.retired.splice(0), this.current];
    await Promise.all(pools.map((pool) => new Promise<void>((resolve) => pool.end(() => resolve()))));
  }
}

/** The source of an export: its columns and filter resolved against information_schema (spelled as the catalogue does). */
export async function openExportSource(record: ExportRecord, clock: Clock, env?: Record<string, string | undefined>): Promise<MysqlSource> {
  const spec = record.spec.source;
  const conn = await openSource(spec, env);
  try {
    const info = await describeTable(conn, spec.database, spec.table);
    const columns = (spec.columns ?? info.columns.map((c) => c.name)).map((w, i) => column(info, w, `source.columns[${i}]`).name);
    const enrich = record.spec.enrich?.length ? await resolveEnrichment(conn, record.spec, info, columns) : undefined;
    return await MysqlSource.open({
      spec,
      keyColumns: record.keyColumns,
      columns,
      filter: filterSql(info, spec.filter),
      clock,
      env,
      enrich,
    });
  } finally {
    await conn.end();
  }
}

export { RangeReader, type ReadOptions } from "./range-reader.ts";
export { isRetryableSourceError } from "./retryable.ts";
