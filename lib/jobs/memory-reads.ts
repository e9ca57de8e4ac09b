import type { ChunkRecord, EventRecord, ExportRecord, ExportState, PartitionRecord, PartitionState } from "../../config/records.ts";
import type { ExportProgress, Page, PageOptions, RetryPolicy, StateTotals } from "./job-store.ts";
import { exportOut } from "./memory-create.ts";
import { copy, type MemoryContext, partitionOf, partitionsOf, partKey } from "./memory-table.ts";
import { retryPolicyOf } from "./semantics.ts";

/** Read models in memory, paged and ordered exactly as dynamo-reads.ts pages and orders them. */

/** The first `limit` items; `next` is set only when a further item exists (the DynamoDB reads look one ahead). */
function page<T>(items: T[], limit: number, position: (item: T) => number): Page<T> {
  const shown = items.slice(0, Math.max(0, limit));
  return { items: shown, next: items.length > shown.length ? (shown.map(position).at(-1) ?? null) : null };
}

export async function getPartition(ctx: MemoryContext, exportId: string, n: number): Promise<PartitionRecord | null> {
  const p = partitionOf(ctx, exportId, n);
  return p ? copy(p.record) : null;
}

/** JobStore.retryPolicy: read field by field as the DynamoDB backend does (a record here is always decoded). */
export async function retryPolicy(ctx: MemoryContext, exportId: string): Promise<RetryPolicy | null> {
  const stored = ctx.table.exports.get(exportId);
  return stored ? retryPolicyOf(stored.record.spec) : null;
}

export async function getExport(ctx: MemoryContext, exportId: string): Promise<ExportRecord | null> {
  const stored = ctx.table.exports.get(exportId);
  return stored ? exportOut(stored) : null;
}

export async function listPartitions(
  ctx: MemoryContext,
  exportId: string,
  options: PageOptions & { state?: PartitionState } = {},
): Promise<Page<PartitionRecord>> {
  const from = options.after === undefined ? 0 : options.after + 1;
  const matching = partitionsOf(ctx, exportId)
    .map((p) => p.record)
    .filter((r) => r.partition >= from && (!options.state || r.state === options.state));
  const limit = options.limit ?? 1000;
  return page(copy(matching.slice(0, limit + 1)), limit, (r) => r.partition);
}

export async function listChunks(ctx: MemoryContext, exportId: string, n: number, options: PageOptions = {}): Promise<Page<ChunkRecord>> {
  const after = options.after ?? 0;
  const limit = options.limit ?? 1000;
  const chunks = [...(ctx.table.chunks.get(partKey(exportId, n))?.values() ?? [])]
    .filter((c) => c.seq > after)
    .sort((a, b) => a.seq - b.seq);
  return page(copy(chunks.slice(0, limit + 1)), limit, (c) => c.seq);
}

/**
 * One page of the ledger; the cursor is the last event's sort key. As with a DynamoDB Query, a full page always
 * carries a cursor, even when nothing follows it (the next page is then empty).
 */
export async function listEvents(
  ctx: MemoryContext,
  exportId: string,
  n: number,
  options: { limit?: number; newestFirst?: boolean; cursor?: string } = {},
): Promise<{ items: EventRecord[]; cursor: string | null }> {
  const all = ctx.table.events.get(partKey(exportId, n)) ?? [];
  const ordered = options.newestFirst ? [...all].reverse() : all;
  const cursor = options.cursor;
  const start = cursor === undefined ? 0 : ordered.findIndex((e) => (options.newestFirst ? e.sk < cursor : e.sk > cursor));
  const limit = options.limit ?? 100;
  const shown = start < 0 ? [] : ordered.slice(start, start + limit);
  return { items: copy(shown.map((e) => e.event)), cursor: shown.length === limit ? (shown.at(-1)?.sk ?? null) : null };
}

export async function listExports(ctx: MemoryContext, options: { limit?: number; state?: ExportState } = {}): Promise<ExportRecord[]> {
  const sortKey = (r: ExportRecord) => `${r.createdAt}#${r.exportId}`;
  return [...ctx.table.exports.values()]
    .filter((s) => !options.state || s.record.state === options.state)
    .sort((a, b) => (sortKey(a.record) < sortKey(b.record) ? 1 : -1))
    .slice(0, options.limit ?? 100)
    .map(exportOut);
}

const zero = (): StateTotals => ({ partitions: 0, rows: 0, bytes: 0, chunks: 0, estimatedRows: 0 });

export async function progress(ctx: MemoryContext, exportId: string): Promise<ExportProgress> {
  const byState = { PENDING: zero(), LEASED: zero(), DONE: zero(), QUARANTINED: zero() };
  const total = zero();
  const owners: Record<string, number> = {};
  for (const { record: p } of partitionsOf(ctx, exportId)) {
    for (const t of [byState[p.state], total]) {
      t.partitions++;
      t.rows += p.rows;
      t.bytes += p.bytes;
      t.chunks += p.chunks;
      t.estimatedRows += p.estimatedRows;
    }
    if (p.state === "LEASED" && p.owner) owners[p.owner] = (owners[p.owner] ?? 0) + 1;
  }
  return { exportId, byState, total, owners };
}
