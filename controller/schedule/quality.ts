import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Connection } from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { QualityRule } from "../../config/incremental-spec.ts";
import type { KeyColumn, SourceKey } from "../../config/records.ts";
import { queryText } from "../../lib/mysql/connect.ts";
import { and, compareKey, type Fragment, placeholder, quoteIdent } from "../../lib/mysql/key-sql.ts";
import { column, filterSql, keyColumnOf, type TableInfo } from "../../lib/mysql/schema.ts";
import type { Manifest } from "../../lib/output/manifest.ts";
import { ObjectKeyReader } from "../../lib/output/object-keys.ts";
import type { QualityResult } from "../store/schedule-store.ts";

/**
 * Data-quality rules of a run, checked after every partition is DONE and before the manifest is committed.
 * Row counts, null rates, ranges and distinct checks on non-key columns are measured by SQL over the run's range of
 * the source (the rows the run exported, by construction; verify proves that part). The distinct check on the key is
 * measured on the objects written (read back as `export verify` does), since the source cannot hold duplicate keys:
 * it proves the run holds no row twice.
 */
export interface QualityInput {
  conn: Connection;
  s3: S3Client;
  info: TableInfo;
  /** The run's spec: its filter carries the watermark range. */
  spec: ExportSpec;
  manifest: Pick<Manifest, "keyColumns" | "highWatermark" | "totals" | "partitions" | "bucket" | "schema">;
  /** updated-at mode: the watermark column and the database's NOW(6) at run start (see rowCount). */
  updatedAt?: { column: string; dbNow: string };
}

export async function checkQuality(rules: QualityRule[], input: QualityInput): Promise<QualityResult[]> {
  const out: QualityResult[] = [];
  for (const [i, rule] of rules.entries()) {
    try {
      out.push(await checkRule(rule, input, `quality[${i}]`));
    } catch (cause) {
      throw new Error(`checking quality rule ${i} (${rule.rule})`, { cause });
    }
  }
  return out;
}

/** A QualityResult of a rule whose policy is fail, and that failed. */
export const failing = (results: QualityResult[]) => results.filter((r) => !r.passed && r.policy === "fail");

function rangeOf(input: QualityInput): { table: string; where: Fragment } {
  const { info, spec, manifest } = input;
  const hwm = manifest.highWatermark as SourceKey | null;
  const where = and(filterSql(info, spec.source.filter), hwm ? compareKey(manifest.keyColumns as KeyColumn[], "<=", hwm) : null);
  return { table: `${quoteIdent(info.database)}.${quoteIdent(info.table)}`, where };
}

async function one(conn: Connection, q: Fragment): Promise<(string | null)[]> {
  return (await queryText(conn, q))[0] ?? [];
}

/** What every rule check measures against: the run's range of the source, and where the rule sits in the spec. */
interface RuleScope {
  input: QualityInput;
  table: string;
  range: Fragment;
  /** The rule's path in the spec (`quality[i]`), for errors about its columns. */
  where: string;
}

type RuleOf<K extends QualityRule["rule"]> = QualityRule & { rule: K };

async function checkRule(rule: QualityRule, input: QualityInput, where: string): Promise<QualityResult> {
  const { table, where: range } = rangeOf(input);
  const scope: RuleScope = { input, table, range, where };
  switch (rule.rule) {
    case "row-count":
      return checkRowCount(rule, scope);
    case "null-rate":
      return checkNullRate(rule, scope);
    case "range":
      return checkRange(rule, scope);
    case "distinct":
      return checkDistinct(rule, scope);
  }
}

async function checkRowCount(rule: RuleOf<"row-count">, { input, table, range }: RuleScope): Promise<QualityResult> {
  const exported = input.manifest.totals.rows;
  const [n] = await one(input.conn, { sql: `SELECT COUNT(*) FROM ${table} WHERE ${range.sql}`, params: range.params });
  const source = Number(n);
  // updated-at: a row exported and then updated again before this check has left the range (it will be in the
  // next run), so the source side may now be lower by at most the rows stamped since the run started.
  let moved = 0;
  if (input.updatedAt) {
    const c = column(input.info, input.updatedAt.column, "incremental.column");
    const keyBound = input.manifest.highWatermark
      ? compareKey(input.manifest.keyColumns as KeyColumn[], "<=", input.manifest.highWatermark as SourceKey)
      : null;
    const since = and({ sql: `${quoteIdent(c.name)} > CAST(? AS DATETIME(6))`, params: [input.updatedAt.dbNow] }, keyBound);
    moved = Number((await one(input.conn, { sql: `SELECT COUNT(*) FROM ${table} WHERE ${since.sql}`, params: since.params }))[0]);
  }
  const passed = exported >= source && exported <= source + moved;
  return result(
    rule.rule,
    undefined,
    rule.policy,
    passed,
    { exported, source, updatedSinceStart: moved },
    passed
      ? `${exported} rows exported, ${source} in the source range` +
          (exported > source ? ` (${exported - source} updated again since the run started)` : "")
      : `${exported} rows exported but the source range holds ${source}` +
          (moved ? ` (+ up to ${moved} updated since the run started)` : ""),
  );
}

async function checkNullRate(rule: RuleOf<"null-rate">, { input, table, range, where }: RuleScope): Promise<QualityResult> {
  const c = column(input.info, rule.column, `${where}.column`);
  const [n, nulls] = await one(input.conn, {
    sql: `SELECT COUNT(*), COALESCE(SUM(${quoteIdent(c.name)} IS NULL), 0) FROM ${table} WHERE ${range.sql}`,
    params: range.params,
  });
  const rate = Number(n) === 0 ? 0 : Number(nulls) / Number(n);
  const passed = rate <= rule.max;
  return result(
    rule.rule,
    [c.name],
    rule.policy,
    passed,
    { rows: Number(n), nulls: Number(nulls), rate, max: rule.max },
    `${c.name}: ${(rate * 100).toFixed(2)}% NULL (${nulls} of ${n}), limit ${(rule.max * 100).toFixed(2)}%`,
  );
}

async function checkRange(rule: RuleOf<"range">, { input, table, range, where }: RuleScope): Promise<QualityResult> {
  const c = column(input.info, rule.column, `${where}.column`);
  const kc = keyColumnOf(c);
  const ph = typeof kc === "string" ? "?" : placeholder(kc);
  const q = quoteIdent(c.name);
  const terms: Fragment[] = [];
  if (rule.min !== undefined) terms.push({ sql: `${q} < ${ph}`, params: [String(rule.min)] });
  if (rule.max !== undefined) terms.push({ sql: `${q} > ${ph}`, params: [String(rule.max)] });
  const bad = { sql: terms.map((t) => `(${t.sql})`).join(" OR "), params: terms.flatMap((t) => t.params) };
  const [n, lo, hi] = await one(input.conn, {
    sql: `SELECT COALESCE(SUM(${bad.sql}), 0), CAST(MIN(${q}) AS CHAR), CAST(MAX(${q}) AS CHAR) FROM ${table} WHERE ${range.sql}`,
    params: [...bad.params, ...range.params],
  });
  const passed = Number(n) === 0;
  return result(
    rule.rule,
    [c.name],
    rule.policy,
    passed,
    { outOfRange: Number(n), min: lo ?? null, max: hi ?? null, allowedMin: rule.min ?? null, allowedMax: rule.max ?? null },
    `${c.name}: ${n} values outside [${rule.min ?? "-inf"}, ${rule.max ?? "+inf"}] (observed ${lo ?? "none"}..${hi ?? "none"})`,
  );
}

async function checkDistinct(rule: RuleOf<"distinct">, { input, table, range, where }: RuleScope): Promise<QualityResult> {
  const keyNames = input.manifest.keyColumns.map((k) => k.name);
  const cols = (rule.columns ?? keyNames).map((n, j) => column(input.info, n, `${where}.columns[${j}]`).name);
  if (cols.join("\u0000") === keyNames.join("\u0000")) return distinctKeysInObjects(rule, input, cols);
  const list = cols.map(quoteIdent).join(", ");
  const [n, distinct] = await one(input.conn, {
    sql: `SELECT COUNT(*), COUNT(DISTINCT ${list}) FROM ${table} WHERE ${range.sql} AND ${cols.map((c) => `${quoteIdent(c)} IS NOT NULL`).join(" AND ")}`,
    params: range.params,
  });
  const dup = Number(n) - Number(distinct);
  return result(
    rule.rule,
    cols,
    rule.policy,
    dup === 0,
    { rows: Number(n), distinct: Number(distinct), duplicates: dup },
    `${cols.join(", ")}: ${dup} duplicate values among ${n} rows (NULLs not counted)`,
  );
}

/** Reads every committed object's keys back and counts keys seen more than once within the run. */
async function distinctKeysInObjects(rule: RuleOf<"distinct">, input: QualityInput, cols: string[]): Promise<QualityResult> {
  const reader = new ObjectKeyReader(input.manifest.keyColumns as KeyColumn[]);
  const seen = new Set<string>();
  let rows = 0;
  let dup = 0;
  try {
    for (const p of input.manifest.partitions) {
      for (const c of p.chunks) {
        const res = await input.s3.send(new GetObjectCommand({ Bucket: input.manifest.bucket, Key: c.key }));
        const body = Buffer.from(await res.Body!.transformToByteArray());
        const keys = await reader.keys(
          input.spec.destination.format,
          body,
          input.manifest.schema.map((s) => s.name),
        );
        for (const k of keys) {
          rows++;
          if (seen.has(k)) dup++;
          else seen.add(k);
        }
      }
    }
  } finally {
    reader.close();
  }
  return result(
    "distinct",
    cols,
    rule.policy,
    dup === 0,
    { rows, distinct: seen.size, duplicates: dup },
    `${cols.join(", ")}: ${dup} duplicate keys among the ${rows} rows written`,
  );
}

function result(
  rule: string,
  columns: string[] | undefined,
  policy: "fail" | "flag",
  passed: boolean,
  observed: QualityResult["observed"],
  message: string,
): QualityResult {
  return { rule, ...(columns ? { columns } : {}), policy, passed, observed, message };
}
