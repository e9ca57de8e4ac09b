import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { enrichSpec, incrementalSpec, qualityRule, schemaDriftPolicy } from "./incremental-spec.ts";
import { secretRef } from "./secret.ts";
import { count, delaySeconds, identifier, keyPartProblem, PREFIX_MAX_BYTES, sizeBytes } from "./units.ts";

/** A filter value is bound as a parameter, never spliced into SQL. Integers past 2^53 must be written as strings. */
const filterValue = z.union([z.string(), z.number(), z.boolean(), z.null()], {
  error: "expected a string, a number, true/false or null",
});

const filterPredicate = z.discriminatedUnion("op", [
  z.object({ column: identifier, op: z.enum(["=", "!=", "<", "<=", ">", ">="]), value: filterValue }).strict(),
  z.object({ column: identifier, op: z.enum(["in", "not in"]), values: z.array(filterValue).min(1).max(1000) }).strict(),
  z.object({ column: identifier, op: z.literal("between"), values: z.tuple([filterValue, filterValue]) }).strict(),
  z.object({ column: identifier, op: z.enum(["is null", "is not null"]) }).strict(),
]);
export type FilterPredicate = z.infer<typeof filterPredicate>;

/** The certificates of a PEM text, normalised to their blocks; or what is wrong with it (`where` names the text). */
export function parseCaPem(text: string, where: string): { pem: string; certificates: X509Certificate[] } | { problem: string } {
  const blocks = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)];
  if (blocks.length === 0) return { problem: `${where} is not PEM (no -----BEGIN ...----- block)` };
  const certs = blocks.filter((b) => b[1] === "CERTIFICATE").map((b) => b[0]);
  if (certs.length === 0) return { problem: `${where} holds no certificate (only ${[...new Set(blocks.map((b) => b[1]))].join(", ")})` };
  const certificates: X509Certificate[] = [];
  for (const [i, pem] of certs.entries()) {
    try {
      certificates.push(new X509Certificate(pem));
    } catch (err) {
      return { problem: `certificate ${i + 1} of ${where} cannot be parsed (${(err as Error).message})` };
    }
  }
  return { pem: `${certs.join("\n")}\n`, certificates };
}

/** Reads a CA bundle (source.tls.caFile); a relative path is taken from the working directory. */
export function readCaFile(path: string): ReturnType<typeof parseCaPem> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: code === "ENOENT" ? `${path}: file not found` : `cannot read ${path} (${code ?? String(err)})` };
  }
  return parseCaPem(text, path);
}

/**
 * TLS to the source, with the semantics of MySQL's --ssl-mode: `required` encrypts without checking the server's
 * certificate; `verify-ca` checks its chain against the CA; `verify-full` also checks the host name (IP SANs for an
 * IP). Without caFile the verify modes trust Node's default CAs. No `tls`: an unencrypted connection, as before.
 */
export const sourceTlsSpec = z
  .object({
    mode: z.enum(["required", "verify-ca", "verify-full"]),
    /** A PEM bundle of CA certificates, e.g. RDS's global-bundle.pem; read by the controller, never by a node. */
    caFile: z.string().min(1).optional(),
    /**
     * The CA certificates as PEM text. The planner writes it into the export record (caFile cut to the certificates
     * that anchor the server's chain), since nodes do not have the controller's files; it may also be given inline.
     * When present, caFile is not read.
     */
    ca: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const field = t.ca !== undefined ? "ca" : t.caFile !== undefined ? "caFile" : null;
    if (field === null) return;
    if (t.mode === "required") {
      ctx.addIssue({
        code: "custom",
        path: [field],
        message: "mode required does not check the server's certificate; use verify-ca or verify-full to trust a CA",
      });
      return;
    }
    const parsed = t.ca !== undefined ? parseCaPem(t.ca, "the text") : readCaFile(t.caFile as string);
    if ("problem" in parsed) ctx.addIssue({ code: "custom", path: [field], message: parsed.problem });
  });
export type SourceTls = z.infer<typeof sourceTlsSpec>;

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
    maxRowsPerSecond: z.number().positive().max(1e9).optional(),
    /** Time zone the server's DATETIME values are read in; TIMESTAMP is always converted to UTC. */
    timezone: z.string().default("Z"),
    /** Encrypt (and verify) the connection; see sourceTlsSpec. */
    tls: sourceTlsSpec.optional(),
  })
  .strict();

export const formatName = z.enum(["parquet", "ndjson", "csv"]);

/**
 * Server-side encryption of every object an export writes (chunks, manifest, `_SUCCESS`, run sections): SSE-S3
 * (S3-managed keys) or SSE-KMS under a customer key. The key must be a key ARN in the bucket's region, not an alias:
 * `spotferry iam policy` grants kms:GenerateDataKey and kms:Decrypt on exactly it, via S3 in its region.
 */
export const sseSpec = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("SSE-S3") }).strict(),
    z
      .object({
        type: z.literal("SSE-KMS"),
        kmsKeyId: z
          .string()
          .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, "must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"),
      })
      .strict(),
  ],
  { error: 'expected { type: "SSE-S3" } or { type: "SSE-KMS", kmsKeyId: KEY-ARN }' },
);
export type SseSpec = z.infer<typeof sseSpec>;

/**
 * `destination.parquet`: how MySQL types map to Parquet where users differ. `tinyint1AsBoolean`: TINYINT(1) columns
 * (MySQL's BOOL/BOOLEAN) become Parquet BOOLEAN instead of an 8-bit integer; a chunk holding a value other than 0/1
 * (TINYINT(1) stores -128..127) then fails, naming the column, rather than changing it. Default false.
 * `deltaEncoding`: integer and time pages whose values move by small steps (keys, timestamps in key order) are written
 * DELTA_BINARY_PACKED; false keeps PLAIN and dictionary pages only, for a reader that knows no other encoding (Spark
 * before 3.3, whose vectorized reader refuses it). Default true.
 */
export const parquetOptionsSpec = z
  .object({
    tinyint1AsBoolean: z.boolean().default(false),
    deltaEncoding: z.boolean().default(true),
  })
  .strict();
export type ParquetOptions = z.infer<typeof parquetOptionsSpec>;

export const destinationSpec = z
  .object({
    bucket: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"),
    /** Objects go under `<prefix>/<export id>/`; a valid S3 key part (no "." or ".." segment, no control characters). */
    prefix: z
      .string()
      .default("")
      .superRefine((p, ctx) => {
        const problem = keyPartProblem(p, PREFIX_MAX_BYTES);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }),
    format: formatName.default("parquet"),
    compression: z.enum(["zstd", "snappy", "gzip", "none"]).optional(),
    /** A partition is written as chunk objects; a chunk closes at whichever limit comes first. */
    chunk: z
      .object({
        maxRows: count(1, 100_000_000).default(500_000),
        maxBytes: sizeBytes.default(128 * 1024 * 1024),
      })
      .strict()
      .default({ maxRows: 500_000, maxBytes: 128 * 1024 * 1024 }),
    /** Absent: objects get the bucket's default encryption. */
    sse: sseSpec.optional(),
    /** Parquet-only choices of the schema; the field names are those of the encoder's options (lib/output/encode). */
    parquet: parquetOptionsSpec.optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.parquet !== undefined && d.format !== "parquet")
      ctx.addIssue({ code: "custom", path: ["parquet"], message: `applies to format parquet only, not ${d.format}` });
    const c = d.compression;
    if (c === undefined) return;
    const allowed = d.format === "parquet" ? ["zstd", "snappy", "gzip", "none"] : ["gzip", "zstd", "none"];
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
    targetRows: count(1000, 1e12).default(2_000_000),
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
      .object({ maxAttempts: count(1, 100).default(5), backoff: delaySeconds.default(30) })
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
    /**
     * Spend cap in USD (controller/reconcilers/spend-cap.ts): once spent + projected remaining cost passes it, no more
     * nodes are launched for the export, running chunks commit, and the export is held for a human. Absent: no cap.
     */
    maxCost: z.number().positive().max(1e9).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    // The agent streams a range on one pooled connection and looks keys up on another: one connection would deadlock.
    if (s.enrich?.length && s.source.maxConnections < 2)
      ctx.addIssue({ code: "custom", path: ["source", "maxConnections"], message: "must be at least 2 when enrich is used" });
  });

export type ExportSpec = z.infer<typeof exportSpec>;
export type ExportSpecInput = z.input<typeof exportSpec>;
