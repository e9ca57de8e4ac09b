import type { CostHold, ExportState, PartitionState, SourceKey } from "../../config/records.ts";
import type { Clock } from "../clock.ts";
import type {
  ClaimRequest,
  ExportStateChange,
  FailureInput,
  JobStore,
  Lease,
  LeaseFence,
  NewChunk,
  NewExport,
  PageOptions,
  ReleaseOptions,
  RevokeReason,
  SplitFence,
} from "./job-store.ts";
import { createExport, setExportState } from "./memory-create.ts";
import * as leases from "./memory-leases.ts";
import { cancelExport, retryPartition, revoke } from "./memory-operator.ts";
import { checkpoint, split } from "./memory-progress.ts";
import * as reads from "./memory-reads.ts";
import * as retention from "./memory-retention.ts";
import { type MemoryContext, MemoryJobTable } from "./memory-table.ts";
import { DEFAULT_QUEUE_SHARDS } from "./semantics.ts";

export interface MemoryJobStoreOptions {
  clock: Clock;
  /** Shards of each pool's claim queue and of the lease queue; as with DynamoDB, every store on one table uses one value. */
  queueShards?: number;
  /** The state to work on; stores given the same table act as processes sharing one DynamoDB table. A new one if absent. */
  table?: MemoryJobTable;
}

/**
 * JobStore in process memory, with the DynamoDB backend's semantics (the same contract suite runs against both): for
 * tests and simulations that need no service. Records are copied in and out, so callers never share store state.
 * Operations live in memory-create.ts, memory-leases.ts, memory-progress.ts, memory-operator.ts and memory-reads.ts,
 * the state in memory-table.ts; this class only wires them to one context.
 */
export class MemoryJobStore implements JobStore {
  private readonly ctx: MemoryContext;

  constructor(options: MemoryJobStoreOptions) {
    this.ctx = { table: options.table ?? new MemoryJobTable(), clock: options.clock, shards: options.queueShards ?? DEFAULT_QUEUE_SHARDS };
  }

  /** The state this store works on, to open more stores on it (another process, another clock). */
  get table(): MemoryJobTable {
    return this.ctx.table;
  }

  createExport(input: NewExport) {
    return createExport(this.ctx, input);
  }
  claim(request: ClaimRequest) {
    return leases.claim(this.ctx, request);
  }
  claimPartition(exportId: string, partition: number, request: ClaimRequest) {
    return leases.claimPartition(this.ctx, exportId, partition, request);
  }
  heartbeat(lease: Lease, leaseMs: number) {
    return leases.heartbeat(this.ctx, lease, leaseMs);
  }
  checkpoint(lease: Lease, chunk: NewChunk, options?: { leaseMs?: number }) {
    return checkpoint(this.ctx, lease, chunk, options);
  }
  release(lease: Lease, options?: ReleaseOptions) {
    return leases.release(this.ctx, lease, options);
  }
  revoke(fence: LeaseFence, reason: RevokeReason) {
    return revoke(this.ctx, fence, reason);
  }
  complete(lease: Lease) {
    return leases.complete(this.ctx, lease);
  }
  fail(lease: Lease, failure: FailureInput) {
    return leases.fail(this.ctx, lease, failure);
  }
  split(fence: SplitFence, at: SourceKey, options?: { estimatedRows?: number }) {
    return split(this.ctx, fence, at, options);
  }
  reapExpired(options: { skewMarginMs: number; limit?: number }) {
    return leases.reapExpired(this.ctx, options);
  }
  setExportState(exportId: string, change: ExportStateChange) {
    return setExportState(this.ctx, exportId, change);
  }
  cancelExport(exportId: string, options?: { reason?: string }) {
    return cancelExport(this.ctx, exportId, options);
  }
  retryPartition(exportId: string, partition: number, options?: { by?: string }) {
    return retryPartition(this.ctx, exportId, partition, options);
  }
  refresh(lease: Lease) {
    return leases.refresh(this.ctx, lease);
  }
  getExport(exportId: string) {
    return reads.getExport(this.ctx, exportId);
  }
  retryPolicy(exportId: string) {
    return reads.retryPolicy(this.ctx, exportId);
  }
  listExports(options?: { limit?: number; state?: ExportState }) {
    return reads.listExports(this.ctx, options);
  }
  getPartition(exportId: string, partition: number) {
    return reads.getPartition(this.ctx, exportId, partition);
  }
  listPartitions(exportId: string, options?: PageOptions & { state?: PartitionState }) {
    return reads.listPartitions(this.ctx, exportId, options);
  }
  listChunks(exportId: string, partition: number, options?: PageOptions) {
    return reads.listChunks(this.ctx, exportId, partition, options);
  }
  listEvents(exportId: string, partition: number, options?: { limit?: number; newestFirst?: boolean; cursor?: string }) {
    return reads.listEvents(this.ctx, exportId, partition, options);
  }
  setCostHold(exportId: string, hold: CostHold | null) {
    return retention.setCostHold(this.ctx, exportId, hold);
  }
  expireExport(exportId: string, expiresAt: number) {
    return retention.expireExport(this.ctx, exportId, expiresAt);
  }
  progress(exportId: string) {
    return reads.progress(this.ctx, exportId);
  }
}

export { MemoryJobTable } from "./memory-table.ts";
