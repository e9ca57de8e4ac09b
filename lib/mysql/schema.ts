import type { Connection } from "mysql2/promise";
import type { FilterPredicate } from "../../config/export-spec.ts";
import type { KeyColumn } from "../../config/records.ts";
import { ExitCode, UserError } from "../errors.ts";
import { columnBinding, membersOf, wellFormed } from "./filter-values.ts";
import { type Fragment, quoteIdent } from "./key-sql.ts";

/**
 * What information_schema says about the source table. Names the user wrote are matched against it (exactly, or
 * case-insensitively when that is unambiguous) and from then on only the catalogue's own spelling reaches SQL.
 */
export interface ColumnInfo {
  name: string;
  dataType: string;
  columnType: string;
  nullable: boolean;
  charset: string | null;
  collation: string | null;
  /** ENUM and SET members as declared (columnType is lower-cased). */
  members?: string[];
}

export interface IndexInfo {
  name: string;
  unique: boolean;
  /** BTREE and no prefix parts: usable to read ranges in key order. */
  ordered: boolean;
  columns: string[];
}

export interface TableInfo {
  database: string;
  table: string;
  /** Optimizer estimate from information_schema.TABLES (InnoDB: a sample; may be off by tens of percent). */
  estimatedRows: number;
  columns: ColumnInfo[];
  indexes: IndexInfo[];
}

type Row = Record<string, unknown>;
const text = (v: unknown): string | null => (v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString("utf8") : String(v));

function pick<T>(items: T[], name: (t: T) => string, wanted: string): T | undefined {
  const exact = items.filter((i) => name(i) === wanted);
  if (exact.length === 1) return exact[0];
  const loose = items.filter((i) => name(i).toLowerCase() === wanted.toLowerCase());
  return loose.length === 1 ? loose[0] : undefined;
}

/**
 * Whether a name could be in the catalogue at all. Identifiers are utf8mb3 there: a name with a character past U+FFFF
 * (an emoji) or a lone surrogate can name nothing, and comparing it with the catalogue's columns fails with "Illegal
 * mix of collations" instead of finding nothing.
 */
const catalogueName = (name: string) => wellFormed(name) && ![...name].some((ch) => (ch.codePointAt(0) as number) > 0xffff);

export async function describeTable(conn: Connection, database: string, table: string): Promise<TableInfo> {
  const notFound = () =>
    new UserError(`table ${database}.${table} not found (check source.database and source.table, and the user's grants)`);
  if (!catalogueName(database) || !catalogueName(table)) throw notFound();
  const [tables] = await conn.query(
    "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
    [database, table],
  );
  const t = pick(tables as Row[], (r) => `${text(r.TABLE_SCHEMA)}.${text(r.TABLE_NAME)}`, `${database}.${table}`);
  if (!t) throw notFound();
  if (text(t.TABLE_TYPE) !== "BASE TABLE")
    throw new UserError(`${database}.${table} is a ${text(t.TABLE_TYPE)}, not a table: export the underlying table`);
  const db = text(t.TABLE_SCHEMA) as string;
  const name = text(t.TABLE_NAME) as string;
  const [cols] = await conn.query(
    `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, COLLATION_NAME
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [db, name],
  );
  const [stats] = await conn.query(
    `SELECT INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, INDEX_TYPE
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
    [db, name],
  );
  const indexes = new Map<string, IndexInfo>();
  for (const s of stats as Row[]) {
    const idx = text(s.INDEX_NAME) as string;
    const entry = indexes.get(idx) ?? { name: idx, unique: Number(text(s.NON_UNIQUE)) === 0, ordered: true, columns: [] };
    entry.columns.push(text(s.COLUMN_NAME) as string);
    if (s.SUB_PART !== null || text(s.INDEX_TYPE) !== "BTREE") entry.ordered = false;
    indexes.set(idx, entry);
  }
  return {
    database: db,
    table: name,
    estimatedRows: Number(text(t.TABLE_ROWS) ?? 0),
    columns: (cols as Row[]).map((c) => {
      const dataType = (text(c.DATA_TYPE) as string).toLowerCase();
      const columnType = text(c.COLUMN_TYPE) as string;
      return {
        name: text(c.COLUMN_NAME) as string,
        dataType,
        columnType: columnType.toLowerCase(),
        nullable: text(c.IS_NULLABLE) === "YES",
        charset: text(c.CHARACTER_SET_NAME),
        collation: text(c.COLLATION_NAME),
        ...(dataType === "enum" || dataType === "set" ? { members: membersOf(columnType) } : {}),
      };
    }),
    indexes: [...indexes.values()],
  };
}

/** The catalogue's column for a name the user wrote, or a UserError naming where it was written. */
export function column(info: TableInfo, wanted: string, where: string): ColumnInfo {
  const c = pick(info.columns, (x) => x.name, wanted);
  if (!c) {
    const names = info.columns.map((x) => x.name).join(", ");
    throw new UserError(`${where}: column ${JSON.stringify(wanted)} is not in ${info.database}.${info.table} (columns: ${names})`);
  }
  return c;
}

const INT_TYPES = new Set(["tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"]);

/** How a column's values are carried exactly, or why they cannot be a key. */
export function keyColumnOf(c: ColumnInfo): KeyColumn | string {
  const base = { name: c.name, sqlType: c.columnType };
  if (INT_TYPES.has(c.dataType)) return { ...base, type: c.columnType.includes("unsigned") ? "uint" : "int" };
  if (c.dataType === "decimal" || c.dataType === "numeric") return { ...base, type: "decimal" };
  if (c.dataType === "char" || c.dataType === "varchar") {
    return { ...base, type: "string", ...(c.collation ? { collation: c.collation } : {}), ...(c.charset ? { charset: c.charset } : {}) };
  }
  if (c.dataType === "binary" || c.dataType === "varbinary") return { ...base, type: "binary" };
  if (c.dataType === "date") return { ...base, type: "date" };
  if (c.dataType === "datetime" || c.dataType === "timestamp") return { ...base, type: "datetime" };
  if (c.dataType === "time") return { ...base, type: "time" };
  if (c.dataType === "float" || c.dataType === "double" || c.dataType === "real") {
    return `${c.name} is ${c.columnType}: floating-point values cannot be carried exactly`;
  }
  return `${c.name} is ${c.columnType}, which cannot be read in ranges`;
}

/**
 * Filter predicates as SQL, columns checked against the catalogue, every value parsed as its column's type and bound
 * as the column's canonical text (filter-values.ts): a value the type cannot hold is refused here, at plan time,
 * naming the field, instead of being rewritten by the server's lenient CAST.
 */
export function filterSql(info: TableInfo, filter: FilterPredicate[] | undefined): Fragment | null {
  if (!filter || filter.length === 0) return null;
  const parts: string[] = [];
  const params: Fragment["params"] = [];
  filter.forEach((f, i) => {
    const at = `source.filter[${i}]`;
    const c = column(info, f.column, `${at}.column`);
    const q = quoteIdent(c.name);
    const binding = () => {
      const b = columnBinding(c);
      if (typeof b === "string") throw new UserError(`${at}.op: ${JSON.stringify(f.op)} on ${b}`, { exitCode: ExitCode.usage });
      return b;
    };
    switch (f.op) {
      case "is null":
      case "is not null":
        parts.push(`${q} ${f.op.toUpperCase()}`);
        break;
      case "in":
      case "not in": {
        const b = binding();
        parts.push(`${q} ${f.op.toUpperCase()} (${f.values.map(() => b.placeholder).join(", ")})`);
        params.push(...f.values.map((v, j) => b.parse(v, `${at}.values[${j}]`)));
        break;
      }
      case "between": {
        const b = binding();
        parts.push(`${q} BETWEEN ${b.placeholder} AND ${b.placeholder}`);
        params.push(b.parse(f.values[0], `${at}.values[0]`), b.parse(f.values[1], `${at}.values[1]`));
        break;
      }
      default: {
        const b = binding();
        parts.push(`${q} ${f.op === "!=" ? "<>" : f.op} ${b.placeholder}`);
        params.push(b.parse(f.value, `${at}.value`));
      }
    }
  });
  return { sql: parts.join(" AND "), params };
}
