import { z } from "zod";
import { count, duration } from "./units.ts";

const HOUR = 3600;
const DAY = 86400;
/** A lease or a heartbeat: at least 1s (an agent cannot renew faster), at most a day. */
const lease = duration({ min: 1, max: DAY });

const tableName = z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, "must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)");

/** Settings of the controller process (file or flags); AWS endpoints and region come from the standard environment. */
export const controllerSettings = z
  .object({
    kind: z.literal("ControllerSettings").optional(),
    stateTable: tableName.default("spotferry"),
    /** Bucket where agent bundles are published and presigned for nodes. */
    artifactBucket: z.string().optional(),
    leaderLease: lease.default(30),
    partitionLease: lease.default(60),
    /** Added to a lease's expiry before it is reaped, for clocks that disagree. */
    clockSkewMargin: duration({ min: 0, max: HOUR }).default(10),
    capacityErrorMemory: duration({ min: 1, max: 7 * DAY }).default(600),
    /** A READY node that holds no live lease this long while claimable work waits is presumed dead and replaced. */
    heartbeatTimeout: duration({ min: 1, max: DAY }).default(90),
    /** Tagged instances with no node record are terminated once this old (a launch whose record was never written). */
    orphanGrace: duration({ min: 1, max: DAY }).default(120),
    /**
     * Lifetime of the presigned bundle URL rendered into user-data. The launch template is re-rendered at half of it,
     * so a node launched from it always fetches with a live URL. SigV4 allows at most 7 days (less with role credentials).
     */
    bundleUrlLifetime: duration({ min: 60, max: 7 * DAY }).default(3600),
    /**
     * Non-secret environment rendered into every node's agent.env (e.g. endpoint URLs of a private S3 or DynamoDB).
     * Names that look like secrets are refused at render time; credentials come from the node role.
     */
    nodeEnv: z.record(z.string(), z.string()).default({}),
    /** Agent timings rendered into the nodes' command line; unset ones keep the agent's defaults (AgentSettings). */
    nodeAgent: z
      .object({
        partitionLease: lease.optional(),
        heartbeatInterval: duration({ max: HOUR }).optional(),
        idleExitAfter: duration({ max: 30 * DAY }).optional(),
        imdsPollInterval: duration({ max: HOUR }).optional(),
      })
      .strict()
      .default({}),
    /**
     * Splitting: a leased partition is split for idle nodes only when its estimated remainder is at least this many
     * rows (and at least four chunks), so a split never costs more than it saves.
     */
    splitMinRows: count(1, 1e12).default(50_000),
    /**
     * Days a finished (SUCCEEDED, FAILED, CANCELLED) export's state items are kept before DynamoDB's TTL deletes them
     * (controller/reconcilers/retention.ts writes `expiresAt` on each). Absent: kept for ever (the default).
     */
    stateRetentionDays: count(1, 3650).optional(),
    metricsNamespace: z.string().default("spotferry"),
    http: z
      .string()
      .regex(/^[^:]+:\d{1,5}$/, 'expected HOST:PORT like "127.0.0.1:8080"')
      .optional(),
  })
  .strict();
export type ControllerSettings = z.infer<typeof controllerSettings>;

/**
 * Node flags every agent process runs with. V8's default young generation (up to 32 MiB a semi-space on Node 24)
 * took a streaming agent to ~400 MB RSS; 8 MiB keeps it under 300 MB at the same CPU (measured on the call log).
 */
export const AGENT_NODE_FLAGS = ["--max-semi-space-size=8"] as const;

/**
 * glibc settings every agent process starts with (read at process start, so set where it is launched). Buffers of a
 * few MB (batches, pages, compressed output) come and go all the time; glibc's dynamic mmap threshold then moves them
 * into the main heap, which fragments and never shrinks: a wide table's agent sat at 386-415 MB RSS with ~150 MB in
 * buffers. A fixed threshold keeps large buffers in mmap, returned on free: 315-357 MB, at the same CPU (call log A/B).
 */
export const AGENT_PROCESS_ENV = { MALLOC_MMAP_THRESHOLD_: "262144", MALLOC_ARENA_MAX: "2" } as const;

/**
 * Buffer sizes of an agent's pipeline, per partition being worked on. Each process holds a few of each at once (wire
 * batches waiting for the encoder, encoded bytes waiting for the upload, parts being uploaded), and V8 lets garbage
 * buffers reach 64 MiB over the live ones before it collects: on a wide table (100 columns, 10 KB rows) the library
 * defaults (4 MiB batches, 8 MiB encoder output, 8 MiB parts) took ~25 MB more RSS than these, at the same CPU on the
 * call log. Call-log batches stop at their row count long before 2 MiB.
 */
export const AGENT_BUFFERS = {
  /** Wire bytes per batch of source rows (lib/mysql/range-reader.ts). */
  batchBytes: 2 * 1024 * 1024,
  /** Encoded bytes queued in the encoder's output before write() waits. */
  encoderHighWaterMark: 2 * 1024 * 1024,
  /** S3 multipart part size: S3's minimum; lib-storage holds queueSize (2) in flight plus the one being filled. */
  partSize: 5 * 1024 * 1024,
} as const;

/** Settings of an agent; everything about the work itself comes from the export record in the state table. */
export const agentSettings = z
  .object({
    kind: z.literal("AgentSettings").optional(),
    stateTable: tableName.default("spotferry"),
    pool: z.string().min(1),
    /** Local mode: the node id; on EC2 it is read from IMDS. */
    nodeId: z.string().min(1).optional(),
    imdsEndpoint: z.string().url().optional(),
    imdsPollInterval: duration({ max: HOUR }).default(5),
    heartbeatInterval: duration({ max: HOUR }).default(15),
    partitionLease: lease.default(60),
    idleExitAfter: duration({ max: 30 * DAY }).default(120),
    /** On a rebalance recommendation: finish the chunk and stop claiming ("drain"), or keep working ("ignore"). */
    onRebalance: z.enum(["drain", "ignore"]).default("drain"),
    /** Partitions worked on at once by each process (I/O-bound sources gain; CPU-bound ones need processes). */
    concurrency: count(1, 64).default(1),
    /** Agent processes on this node (agent/processes.ts): one per core the node should spend on the export. */
    processes: count(1, 64).default(1),
  })
  .strict();
export type AgentSettings = z.infer<typeof agentSettings>;
