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
  type Row,
  SESSION_INIT_SQL,
} from "../output/encode/index.ts";
import { isAccessDenied, openSource, resolveSourceLogin, type SourceLogin } from "./connect.ts";
import { Enricher, type ResolvedEnrichment, resolveEnrichment } from "./enrich.ts";
import { and, type Fragment, orderBy, quoteIdent, rangePredicate, selectKey } from "./key-sql.ts";
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

/** Errors after which the same query can be re-issued from the last key read. */
const RETRYABLE = new Set([
  "PROTOCOL_CONNECTION_LOST",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ER_CONNECTION_KILLED",
  "ER_QUERY_INTERRUPTED",
  "ER_SERVER_SHUTDOWN",
  "ER_LOCK_WAIT_TIMEOUT",
  "ER_LOCK_DEADLOCK",
]);
export const isRetryableSourceError = (err: unknown) => {
  const e = err as { code?: string; errno?: number; fatal?: boolean };
  return (e.code !== undefined && RETRYABLE.has(e.code)) || e.errno === 1927 || e.errno === 1317;
};

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
   * the connection is lost.
   */
  read(range: RangeRequest, opts: ReadOptions = {}): RangeReader {
    return new RangeReader(this, range, {
      batchRows: opts.batchRows ?? 2048,
      batchBytes: opts.batchBytes ?? 4 * 1024 * 1024,
      signal: opts.signal,
      maxRetries: opts.maxRetries ?? 5,
    });
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

export interface ReadOptions {
  batchRows?: number;
  batchBytes?: number;
  signal?: AbortSignal;
  maxRetries?: number;
}

/** Rows the driver may queue in its stream after we paused it, before it stops reading the socket. */
const STREAM_ROWS = 16;

/**
 * Pull-based batches over a streamed query. The socket is paused whenever two full batches wait for the consumer,
 * so memory stays at about three batches whatever the range size. A batch is cut at `batchRows` rows or once the
 * bytes read from the socket since it began reach `batchBytes`: the socket's byte count costs nothing per row,
 * where summing each row's values would cost more than the batching saves.
 */
export class RangeReader {
  private readonly source: MysqlSource;
  private readonly range: RangeRequest;
  private readonly batchRows: number;
  private readonly batchBytes: number;
  private readonly signal: AbortSignal | undefined;
  private readonly maxRetries: number;
  private buffer: Row[] = [];
  private ready: Row[][] = [];
  private ended = false;
  private failure: unknown = null;
  private wake: (() => void) | null = null;
  private conn: PoolConnection | null = null;
  private stream: NodeJS.ReadableStream | null = null;
  /** Where a re-issued query starts: after the last row received (delivered or still buffered). */
  private resumeAfter: SourceKey | null = null;
  private lastDelivered: SourceKey | null = null;
  private retries = 0;
  private started = false;
  private readonly startedAt: number;
  private delivered = 0;
  /** Rows handed to the consumer. */
  rows = 0;

  constructor(source: MysqlSource, range: RangeRequest, opts: Required<Omit<ReadOptions, "signal">> & { signal?: AbortSignal }) {
    this.source = source;
    this.range = range;
    this.batchRows = opts.batchRows;
    this.batchBytes = opts.batchBytes;
    this.signal = opts.signal;
    this.maxRetries = opts.maxRetries;
    this.startedAt = source.clock.now();
    this.signal?.addEventListener("abort", () => this.close(), { once: true });
  }

  /** The next batch, or null at the end of the range. */
  async next(): Promise<Row[] | null> {
    if (!this.started) {
      this.started = true;
      await this.start();
    }
    for (;;) {
      this.signal?.throwIfAborted();
      const batch = this.ready.shift();
      if (batch) {
        if (this.ready.length === 0) this.stream?.resume();
        if (this.source.enricher) await this.source.enricher.fill(batch);
        await this.throttle(batch.length);
        this.rows += batch.length;
        this.lastDelivered = this.source.keyOf(batch[batch.length - 1] as Row);
        return batch;
      }
      if (this.failure && this.ready.length === 0) {
        const err = this.failure;
        this.failure = null;
        if (!isRetryableSourceError(err) || this.retries >= this.maxRetries) throw err;
        this.retries++;
        await this.source.clock.sleep(Math.min(8000, 250 * 2 ** this.retries), this.signal);
        await this.start();
        continue;
      }
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private async start(): Promise<void> {
    this.release();
    this.ended = false;
    this.buffer = [];
    const conn = await this.source.connection();
    this.conn = conn;
    const q = this.source.queryFor(this.range, this.resumeAfter);
    const stream = conn.query({ sql: q.sql, values: q.params, rowsAsArray: true }).stream({ highWaterMark: STREAM_ROWS });
    this.stream = stream;
    const notify = () => {
      const w = this.wake;
      this.wake = null;
      w?.();
    };
    // mysql2's connection keeps its socket (net or TLS) as `stream`.
    const socket = (conn as unknown as { stream?: { bytesRead?: number } }).stream;
    const bytesRead = () => socket?.bytesRead ?? 0;
    let batchStart = bytesRead();
    stream.on("data", (row: Row) => {
      this.buffer.push(row);
      if (this.buffer.length >= this.batchRows || bytesRead() - batchStart >= this.batchBytes) {
        this.ready.push(this.buffer);
        this.buffer = [];
        batchStart = bytesRead();
        if (this.ready.length >= 2) stream.pause();
        notify();
      }
    });
    stream.on("end", () => {
      if (this.stream !== stream) return;
      if (this.buffer.length) this.ready.push(this.buffer);
      this.buffer = [];
      this.ended = true;
      this.release();
      notify();
    });
    // A killed or dropped connection is reported on the connection only; the query stream just goes quiet.
    const onConnError = (err: unknown) => fail(err);
    conn.once("error", onConnError);
    this.detach = () => conn.removeListener("error", onConnError);
    const fail = (err: unknown) => {
      if (this.stream !== stream) return;
      // Rows received before the failure are kept and still delivered; the retry starts after the last of them.
      if (this.buffer.length) this.ready.push(this.buffer);
      this.buffer = [];
      const tail = this.ready.at(-1);
      this.resumeAfter = tail ? this.source.keyOf(tail[tail.length - 1] as Row) : (this.lastDelivered ?? this.resumeAfter);
      this.failure = err;
      this.destroyConnection();
      notify();
    };
    stream.on("error", fail);
  }

  private detach: () => void = () => {};

  private async throttle(rows: number): Promise<void> {
    const cap = this.source.rowsPerSecondCap;
    this.delivered += rows;
    if (!cap) return;
    const due = this.startedAt + (this.delivered / cap) * 1000;
    const wait = due - this.source.clock.now();
    if (wait > 0) await this.source.clock.sleep(wait, this.signal);
  }

  private release(): void {
    this.detach();
    if (this.conn) {
      this.conn.release();
      this.conn = null;
    }
    this.stream = null;
  }

  private destroyConnection(): void {
    this.detach();
    if (this.conn) {
      // mysql2's destroy() only ends our half of the socket: a server still writing rows into a paused stream then
      // keeps the query (and the table's metadata lock) until net_write_timeout. Destroying the socket ends it now.
      const socket = (this.conn as unknown as { stream?: { destroy(): void } }).stream;
      this.conn.destroy();
      socket?.destroy();
      this.conn = null;
    }
    this.stream = null;
  }

  /** Stops reading; a connection mid-query is destroyed (the server ends the query), an idle one is returned. */
  close(): void {
    if (this.stream && !this.ended) this.destroyConnection();
    else this.release();
    this.ended = true;
    const w = this.wake;
    this.wake = null;
    w?.();
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
