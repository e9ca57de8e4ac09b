import type { SchemaDriftPolicy } from "../../config/incremental-spec.ts";
import type { TableInfo } from "../../lib/mysql/schema.ts";
import type { DriftChange, SchemaColumn, SchemaDriftReport } from "../store/schedule-store.ts";

/**
 * Schema drift between two runs of a schedule: compares the source's columns now with those the previous committed
 * run recorded, and applies the spec's policy to decide what this run exports — before any row is written.
 */

export const schemaOf = (info: TableInfo): SchemaColumn[] =>
  info.columns.map((c, i) => ({ name: c.name, type: c.columnType, nullable: c.nullable, position: i + 1 }));

const INT_RANK: Record<string, number> = { tinyint: 1, smallint: 2, mediumint: 3, int: 4, integer: 4, bigint: 5 };
const base = (t: string) => /^[a-z]+/.exec(t)?.[0] ?? t;
const args = (t: string) =>
  (/\(([^)]*)\)/.exec(t)?.[1] ?? "")
    .split(",")
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isFinite(n));

/**
 * How a column type changed: widened when every old value fits the new type (bigger integer, longer string, more
 * precision, more fractional seconds, FLOAT -> DOUBLE, signed -> a bigger unsigned is NOT a widening), narrowed when
 * the reverse holds, otherwise just changed.
 */
export function compareTypes(from: string, to: string): "same" | "widened" | "narrowed" | "type-changed" {
  if (from === to) return "same";
  const [bf, bt] = [base(from), base(to)];
  const [uf, ut] = [from.includes("unsigned"), to.includes("unsigned")];
  const [af, at] = [args(from), args(to)];
  const cmp = (a: number, b: number) => (a < b ? "widened" : a > b ? "narrowed" : "same");
  if (bf in INT_RANK && bt in INT_RANK) {
    if (uf !== ut) return "type-changed";
    const r = cmp(INT_RANK[bf]!, INT_RANK[bt]!);
    return r === "same" ? "same" : r; // display width changes (int(11) -> int(10)) are not changes
  }
  const strings = ["char", "varchar", "binary", "varbinary"];
  if (strings.includes(bf) && strings.includes(bt) && bf.endsWith("binary") === bt.endsWith("binary")) {
    const r = cmp(af[0] ?? 0, at[0] ?? 0);
    return r === "same" ? (bf === "char" && bt === "varchar" ? "widened" : "type-changed") : r;
  }
  const texts = ["tinytext", "text", "mediumtext", "longtext"];
  if (texts.includes(bf) && texts.includes(bt)) return cmp(texts.indexOf(bf), texts.indexOf(bt)) as "widened" | "narrowed";
  if (bf === "decimal" && bt === "decimal") {
    const [pf = 10, sf = 0] = af;
    const [pt = 10, st = 0] = at;
    if (pt - st >= pf - sf && st >= sf) return "widened";
    if (pt - st <= pf - sf && st <= sf) return "narrowed";
    return "type-changed";
  }
  if (bf === bt && ["datetime", "timestamp", "time"].includes(bf)) return cmp(af[0] ?? 0, at[0] ?? 0) as "widened" | "narrowed";
  if (bf === "float" && bt === "double") return "widened";
  if (bf === "double" && bt === "float") return "narrowed";
  return "type-changed";
}

/**
 * Changes from `previous` to `current`. A column dropped and another added with the same type at the same position
 * is reported as one rename (likely, not certain: information_schema cannot tell a rename from drop + add).
 */
export function diffSchemas(previous: SchemaColumn[], current: SchemaColumn[]): DriftChange[] {
  const now = new Map(current.map((c) => [c.name, c]));
  const before = new Map(previous.map((c) => [c.name, c]));
  const dropped = previous.filter((c) => !now.has(c.name));
  const added = current.filter((c) => !before.has(c.name));
  const changes: DriftChange[] = [];
  for (const d of [...dropped]) {
    const a = added.find((x) => x.type === d.type && x.position === d.position);
    if (!a) continue;
    changes.push({ kind: "renamed", column: a.name, from: d.name, to: a.name });
    dropped.splice(dropped.indexOf(d), 1);
    added.splice(added.indexOf(a), 1);
  }
  for (const d of dropped) changes.push({ kind: "dropped", column: d.name });
  for (const a of added) changes.push({ kind: "added", column: a.name, to: a.type });
  for (const c of current) {
    const p = before.get(c.name);
    if (!p) continue;
    const how = compareTypes(p.type, c.type);
    if (how !== "same") changes.push({ kind: how, column: c.name, from: p.type, to: c.type });
  }
  return changes;
}

export const describeChange = (c: DriftChange): string =>
  c.kind === "renamed"
    ? `column ${c.from} renamed to ${c.to} (likely: dropped and added with the same type and position)`
    : c.kind === "added"
      ? `column ${c.column} added (${c.to})`
      : c.kind === "dropped"
        ? `column ${c.column} dropped`
        : `column ${c.column} ${c.kind === "type-changed" ? "changed type" : c.kind} from ${c.from} to ${c.to}`;

export interface DriftDecision {
  report: SchemaDriftReport;
  /** Columns this run exports, in the source's order; null when the policy fails the run. */
  columns: string[] | null;
}

/**
 * Applies the policy. `wanted` is the spec's column list (all columns when the spec names none); `previousColumns`
 * what the last run exported. evolve: export what is there now. freeze: any change fails. ignore-new-columns: export
 * the previous list; a change to one of those columns (dropped, renamed, narrowed or changed type) fails, because
 * the promised shape cannot be kept; a widened column is kept and reported.
 */
export function decideDrift(
  policy: SchemaDriftPolicy,
  previous: SchemaColumn[] | null,
  previousColumns: string[] | null,
  current: SchemaColumn[],
  wanted: string[],
): DriftDecision {
  const changes = previous ? diffSchemas(previous, current) : [];
  const summary = changes.map(describeChange).join("; ");
  if (changes.length === 0) return { columns: wanted, report: { policy, changes, action: "none", message: "no schema change" } };
  if (policy === "freeze") {
    return {
      columns: null,
      report: { policy, changes, action: "failed", message: `schemaDrift is freeze and the source changed: ${summary}` },
    };
  }
  if (policy === "ignore-new-columns" && previousColumns) {
    const kept = new Set(previousColumns);
    const breaking = changes.filter(
      (c) => (c.kind === "renamed" ? kept.has(c.from ?? "") : kept.has(c.column)) && c.kind !== "widened" && c.kind !== "added",
    );
    if (breaking.length > 0) {
      return {
        columns: null,
        report: {
          policy,
          changes,
          action: "failed",
          message: `schemaDrift is ignore-new-columns but previously exported columns changed: ${breaking.map(describeChange).join("; ")}`,
        },
      };
    }
    const columns = current.map((c) => c.name).filter((n) => kept.has(n));
    return { columns, report: { policy, changes, action: "ignored-new-columns", message: `kept the previous columns; ${summary}` } };
  }
  return { columns: wanted, report: { policy, changes, action: "evolved", message: `evolved: ${summary}` } };
}
