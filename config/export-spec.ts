import { z } from "zod";
import { enrichSpec, incrementalSpec, qualityRule, schemaDriftPolicy } from "./incremental-spec.ts";
import { secretRef } from "./secret.ts";
import { durationSeconds, identifier, sizeBytes } from "./units.ts";

/** A filter value is bound as a parameter, never spliced into SQL. Integers past 2^53 must be written as strings. */
const filterValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const filterPredicate = z.discriminatedUnion("op", [
  z.object({ column: identifier, op: z.enum(["=", "!=", "<", "<=", ">", ">="]), value: filterValue }).strict(),
  z.object({ column: identifier, op: z.enum(["in", "not in"]), values: z.array(filterValue).min(1).max(1000) }).strict(),
  z.object({ column: identifier, op: z.literal("between"), values: z.tuple([filterValue, filterValue]) }).strict(),
  z.object({ column: identifier, op: z.enum(["is null", "is not null"]) }).strict(),
]);
export type FilterPredicate = z.infer<typeof filterPredicate>;

export const sourceSpec = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(1).max(65535).default(3306),
    user: z.string().min(1),
    password: secretRef.optional(),
    database: identifier,
    table: identifier,
    /** Columns to export, in order; default: every column of the table. */
    columns: z.array(identifier).min(1).optional(),
    /** Predicates AND-ed together; identifiers are checked against information_schema, values are bound. */
    filter: z.array(filterPredicate).optional(),
    /** Key columns the export is cut on; default: the primary key. Must be the leading columns of a unique index. */
    partitionKey: z.array(identifier).min(1).optional(),
    /** Protects a production source: connections per agent and an optional rows/s cap per agent. */
    maxConnections: z.number().int().min(1).max(64).default(2),
    maxRowsPerSecond: z.number().positive().optional(),
    /** Time zone the server's DATETIME values are read in; TIMESTAMP is always converted to UTC. */
    timezone: z.string().default("Z"),
  })
  .strict();

export const formatName = z.enum(["parquet", "ndjson", "csv"]);

export const destinationSpec = z
  .object({
    bucket: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"),
    prefix: z
      .string()
      .default("")
      .refine((p) => !p.startsWith("/"), "must not start with /"),
    format: formatName.default("parquet"),
    compression: z.enum(["zstd", "snappy", "gzip", "none"]).optional(),
    /** A partition is written as chunk objects; a chunk closes at whichever limit comes first. */
    chunk: z
      .object({
        maxRows: z.number().int().positive().default(500_000),
        maxBytes: sizeBytes.default(128 * 1024 * 1024),
      })
      .strict()
      .default({ maxRows: 500_000, maxBytes: 128 * 1024 * 1024 }),
  })
  .strict()
  .superRefine((d, ctx) => {
    const c = d.compression;
    if (c === undefined) return;
    const allowed = d.format === "parquet" ? ["zstd", "snappy", "gzip", "none"] : ["gzip", "none"];
    if (!allowed.includes(c)) {
      ctx.addIssue({
        code: "custom",
        path: ["compression"],
        message: `expected one of ${allowed.join("|")} for format ${d.format}, got "${c}"`,
      });
    }
  });

export const partitioningSpec = z
  .object({
    /** Rows per partition the planner aims for. */
    targetRows: z.number().int().min(1000).default(2_000_000),
    /** Upper bound on partitions; targetRows grows to respect it. */
    maxPartitions: z.number().int().min(1).max(100_000).default(10_000),
  })
  .strict();

export const exportSpec = z
  .object({
    kind: z.literal("Export"),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be lowercase letters, digits and hyphens (max 63)"),
    pool: z.string().min(1).default("default"),
    source: sourceSpec,
    destination: destinationSpec,
    partitioning: partitioningSpec.default({ targetRows: 2_000_000, maxPartitions: 10_000 }),
    /** Attempts before a partition is quarantined, and the backoff between them. */
    retry: z
      .object({ maxAttempts: z.number().int().min(1).max(100).default(5), backoff: durationSeconds.default(30) })
      .strict()
      .default({ maxAttempts: 5, backoff: 30 }),
    /** Recurring runs over a watermark column (`spotferry schedule run`); see config/incremental-spec.ts. */
    incremental: incrementalSpec.optional(),
    /** What a schedule does when the source's columns change between runs (default evolve). */
    schemaDrift: schemaDriftPolicy.optional(),
    /** Data-quality rules checked on every run before its manifest is committed. */
    quality: z.array(qualityRule).max(100).optional(),
    /** Columns added by batched key lookups in other tables. */
    enrich: z.array(enrichSpec).max(8).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    // The agent streams a range on one pooled connection and looks keys up on another: one connection would deadlock.
    if (s.enrich?.length && s.source.maxConnections < 2)
      ctx.addIssue({ code: "custom", path: ["source", "maxConnections"], message: "must be at least 2 when enrich is used" });
  });

export type ExportSpec = z.infer<typeof exportSpec>;
export type ExportSpecInput = z.input<typeof exportSpec>;
