import type { PoolConnection, Query } from "mysql2";
import type { SourceKey } from "../../config/records.ts";
import type { RawRows, Row, RowBatch } from "../output/encode/index.ts";
import type { MysqlSource, RangeRequest } from "./range-source.ts";
import { isRetryableSourceError } from "./retryable.ts";
import { collectWireRows } from "./wire-rows.ts";

export interface ReadOptions {
  batchRows?: number;
  batchBytes?: number;
  signal?: AbortSignal;
  maxRetries?: number;
}

export type ReaderOptions = Required<Omit<ReadOptions, "signal">> & {
  signal?: AbortSignal;
  /** Rows as the server sent them (RawRows) rather than mysql2's row arrays. */
  raw: boolean;
};

/** Rows the driver may queue in its stream after we paused it, before it stops reading the socket. */
const STREAM_ROWS = 16;

/**
 * Pull-based batches over a streamed query. The socket is paused whenever two full batches wait for the consumer,
 * so memory stays at about three batches whatever the range size. A batch is cut at `batchRows` rows or once its
 * bytes reach `batchBytes`: raw batches count their rows' bytes; array batches count the bytes read from the socket
 * since the batch began, which costs nothing per row, where summing each row's values would cost more than the
 * batching saves.
 */
export class RangeReader<B extends RowBatch = Row[]> {
  private readonly source: MysqlSource;
  private readonly range: RangeRequest;
  private readonly opts: ReaderOptions;
  private readonly signal: AbortSignal | undefined;
  private ready: RowBatch[] = [];
  private ended = false;
  private failure: unknown = null;
  private wake: (() => void) | null = null;
  private conn: PoolConnection | null = null;
  /** The query being read; null between queries. */
  private query: Query | null = null;
  /** Lets the driver read again after the consumer took a batch. */
  private resume: () => void = () => {};
  /** Rows received after the last batch was cut (the partial batch), handed out at the end or on a failure. */
  private flushPartial: () => RowBatch | null = () => null;
  /** Where a re-issued query starts: after the last row received (delivered or still buffered). */
  private resumeAfter: SourceKey | null = null;
  private lastDelivered: SourceKey | null = null;
  private retries = 0;
  private started = false;
  private readonly startedAt: number;
  private delivered = 0;
  /** Rows handed to the consumer. */
  rows = 0;

  constructor(source: MysqlSource, range: RangeRequest, opts: ReaderOptions) {
    this.source = source;
    this.range = range;
    this.opts = opts;
    this.signal = opts.signal;
    this.startedAt = source.clock.now();
    this.signal?.addEventListener("abort", () => this.close(), { once: true });
  }

  /** The next batch, or null at the end of the range. */
  async next(): Promise<B | null> {
    if (!this.started) {
      this.started = true;
      await this.start();
    }
    for (;;) {
      this.signal?.throwIfAborted();
      const batch = this.ready.shift();
      if (batch) {
        if (this.ready.length === 0) this.resume();
        if (this.source.enricher) await this.source.enricher.fill(batch as Row[]);
        await this.throttle(batch.length);
        this.rows += batch.length;
        this.lastDelivered = this.source.keyAt(batch, batch.length - 1);
        return batch as B;
      }
      if (this.failure && this.ready.length === 0) {
        const err = this.failure;
        this.failure = null;
        if (!isRetryableSourceError(err) || this.retries >= this.opts.maxRetries) throw err;
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
    const conn = await this.source.connection();
    this.conn = conn;
    const q = this.source.queryFor(this.range, this.resumeAfter);
    const query = conn.query({ sql: q.sql, values: q.params, rowsAsArray: true });
    this.query = query;
    const isCurrent = () => this.query === query;
    const emit = (batch: RowBatch) => {
      if (!isCurrent()) return false;
      this.ready.push(batch);
      notify();
      return this.ready.length >= 2;
    };
    const notify = () => {
      const w = this.wake;
      this.wake = null;
      w?.();
    };
    // Both read paths stop reading the socket once two full batches wait, and report the end and errors alike.
    const events = this.opts.raw ? this.readRaw(conn, query, emit) : this.readArrays(conn, query, emit);
    const end = () => {
      if (!isCurrent()) return;
      this.keepPartial();
      this.ended = true;
      this.release();
      notify();
    };
    const fail = (err: unknown) => {
      if (!isCurrent()) return;
      // Rows received before the failure are kept and still delivered; the retry starts after the last of them.
      this.keepPartial();
      const tail = this.ready.at(-1);
      this.resumeAfter = tail ? this.source.keyAt(tail, tail.length - 1) : (this.lastDelivered ?? this.resumeAfter);
      this.failure = err;
      this.destroyConnection();
      notify();
    };
    events.on("end", end);
    events.on("error", fail);
    // A killed or dropped connection is reported on the connection only; the query just goes quiet.
    conn.once("error", fail);
    this.detach = () => conn.removeListener("error", fail);
  }

  /** mysql2's row arrays, through its object stream. */
  private readArrays(conn: PoolConnection, query: Query, emit: (batch: Row[]) => boolean): NodeJS.EventEmitter {
    const stream = query.stream({ highWaterMark: STREAM_ROWS });
    this.resume = () => stream.resume();
    // mysql2's connection keeps its socket (net or TLS) as `stream`.
    const socket = (conn as unknown as { stream?: { bytesRead?: number } }).stream;
    const bytesRead = () => socket?.bytesRead ?? 0;
    let buffer: Row[] = [];
    let batchStart = bytesRead();
    this.flushPartial = () => {
      const rest = buffer;
      buffer = [];
      return rest.length ? rest : null;
    };
    stream.on("data", (row: Row) => {
      buffer.push(row);
      if (buffer.length >= this.opts.batchRows || bytesRead() - batchStart >= this.opts.batchBytes) {
        const full = buffer;
        buffer = [];
        batchStart = bytesRead();
        if (emit(full)) stream.pause();
      }
    });
    return stream;
  }

  /** The rows' wire bytes (wire-rows.ts); the connection itself is paused, as mysql2's stream does. */
  private readRaw(conn: PoolConnection, query: Query, emit: (batch: RawRows) => boolean): NodeJS.EventEmitter {
    this.resume = () => conn.resume();
    const collector = collectWireRows(query, {
      stride: this.source.stride,
      batchRows: this.opts.batchRows,
      batchBytes: this.opts.batchBytes,
      onBatch: (batch) => {
        if (emit(batch)) conn.pause();
      },
    });
    this.flushPartial = collector.flush;
    return query;
  }

  private keepPartial(): void {
    const rest = this.flushPartial();
    this.flushPartial = () => null;
    if (rest) this.ready.push(rest);
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
    this.query = null;
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
    this.query = null;
  }

  /** Stops reading; a connection mid-query is destroyed (the server ends the query), an idle one is returned. */
  close(): void {
    if (this.query && !this.ended) this.destroyConnection();
    else this.release();
    this.ended = true;
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}
