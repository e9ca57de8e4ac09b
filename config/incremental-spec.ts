import { z } from "zod";
import { delaySeconds, duration, identifier } from "./units.ts";

/**
 * The parts of an export spec that make it a recurring, incremental extraction (issue 8): the watermark, the schema
 * drift policy, the data-quality rules and the enrichment lookups. They live here so export-spec.ts stays the shape
 * of a one-off export; every field is optional there, so plain export specs (and their ids) are unchanged.
 */

/**
 * `id`: an ever-growing column (AUTO_INCREMENT); each run reads (last, MAX(column)]; rows updated in place are NOT
 * captured. `updated-at`: a DATETIME/TIMESTAMP set on every write; each run reads (last, min(MAX(column),
 * NOW(6) - safetyLag)], so rows of transactions still in flight (committed later with an older stamp) wait for the
 * next run; a row updated in place appears again in a later run, and readers keep its latest version per primary key.
 */
export const incrementalSpec = z
  .object({
    mode: z.enum(["id", "updated-at"]),
    column: identifier,
    /** updated-at: required; id: optional (rows whose id is within the lag of MAX(id) by time are not tracked). */
    safetyLag: delaySeconds.optional(),
    /** How often `spotferry schedule run` starts a run, e.g. "5m". */
    every: duration({ min: 1, max: 31 * 86400 }),
    /** Exclusive watermark the first run starts after (exact text, e.g. "2026-11-21 10:00:00" or "1000000"); default: the whole table. */
    startAfter: z.string().min(1).optional(),
    /** Columns identifying a row across runs (the manifest's dedupeKey); default: the table's primary key. */
    primaryKey: z.array(identifier).min(1).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.mode === "updated-at" && s.safetyLag === undefined)
      ctx.addIssue({ code: "custom", path: ["safetyLag"], message: 'required for mode updated-at (e.g. "30s")' });
  });
export type IncrementalSpec = z.infer<typeof incrementalSpec>;

/** evolve: new columns appear (the manifest says so); freeze: any change fails the run; ignore-new-columns: keep the previous column list. */
export const schemaDriftPolicy = z.enum(["evolve", "freeze", "ignore-new-columns"]);
export type SchemaDriftPolicy = z.infer<typeof schemaDriftPolicy>;

const rulePolicy = z.enum(["fail", "flag"]).default("fail");
const boundValue = z.union([z.string(), z.number()]);

export const qualityRule = z.discriminatedUnion("rule", [
  /** Exported rows == COUNT(*) of the run's range in the source. */
  z.object({ rule: z.literal("row-count"), policy: rulePolicy }).strict(),
  /** Share of NULLs in a column of the run's rows at most `max` (0..1). */
  z.object({ rule: z.literal("null-rate"), column: identifier, max: z.number().min(0).max(1), policy: rulePolicy }).strict(),
  /** No duplicate values of `columns` within the run (default: the export key, checked on the objects written). */
  z.object({ rule: z.literal("distinct"), columns: z.array(identifier).min(1).optional(), policy: rulePolicy }).strict(),
  /** Every non-NULL value of `column` within [min, max] (either may be left out). Values are bound, typed like the column. */
  z
    .object({ rule: z.literal("range"), column: identifier, min: boundValue.optional(), max: boundValue.optional(), policy: rulePolicy })
    .strict()
    .refine((r) => r.min !== undefined || r.max !== undefined, "needs min, max or both"),
]);
export type QualityRule = z.infer<typeof qualityRule>;

/**
 * Columns looked up in another table by key, e.g. `{ table: departments, key: { local: dept_id, remote: id },
 * columns: [name], as: dept_ }` adds `dept_name`. The remote key must be a unique index (one match per row); a row
 * with no match gets NULLs (a left join). The agent looks keys up in batches, never one query per row.
 */
export const enrichSpec = z
  .object({
    /** Default: the source database. */
    database: identifier.optional(),
    table: identifier,
    key: z.object({ local: identifier, remote: identifier }).strict(),
    columns: z.array(identifier).min(1).max(64),
    /** Prefix of the added columns' names (default: none). */
    as: z
      .string()
      .regex(/^[A-Za-z0-9_]{0,32}$/, "letters, digits and _ only")
      .optional(),
  })
  .strict();
export type EnrichSpec = z.infer<typeof enrichSpec>;
