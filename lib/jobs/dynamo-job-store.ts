import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { CostHold, ExportState, PartitionState, SourceKey } from "../../config/records.ts";
import type { Clock } from "../clock.ts";
import { dynamoContext, emptyStats, type StoreContext, type StoreStats } from "../dynamo/access.ts";
import { createExport, setExportState } from "./dynamo-create.ts";
import * as leases from "./dynamo-leases.ts";
import { cancelExport, retryPartition, revoke } from "./dynamo-operator.ts";
import { checkpoint, split } from "./dynamo-progress.ts";
import * as reads from "./dynamo-reads.ts";
import * as retention from "./dynamo-retention.ts";
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
import { DEFAULT_QUEUE_SHARDS } from "./semantics.ts";

export interface DynamoJobStoreDeps {
  client: DynamoDBClient;
  tableName: string;
  clock: Clock;
  /**
   * Shards of each pool's claim queue and of the lease queue. Every process sharing a table must use the same value;
   * more shards spread claims over more index partitions at the cost of more queries when the queue is nearly empty.
   */
  queueShards?: number;
}

export { DEFAULT_QUEUE_SHARDS };

/**
 * JobStore over one DynamoDB table (layout in config/records.ts). Operations live in dynamo-create.ts (plans),
 * dynamo-leases.ts (claim, heartbeat, release, complete, fail, reap), dynamo-progress.ts (checkpoint, split),
 * dynamo-operator.ts (cancel, retry, revoke) and dynamo-reads.ts (read models); this class only wires them to one context.
 */
export class DynamoJobStore implements JobStore {
  private readonly ctx: StoreContext;

  constructor(deps: DynamoJobStoreDeps) {
    this.ctx = { ...dynamoContext(deps), shards: deps.queueShards ?? DEFAULT_QUEUE_SHARDS };
  }

  /** Request counters since construction (or the last reset). */
  get stats(): Readonly<StoreStats> {
    return { ...this.ctx.stats };
  }
  resetStats(): void {
    this.ctx.stats = emptyStats();
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
