import type { Connection } from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import { queryText } from "../../lib/mysql/connect.ts";
import { resolveEnrichment } from "../../lib/mysql/enrich.ts";
import type { Fragment } from "../../lib/mysql/key-sql.ts";
import type { TableInfo } from "../../lib/mysql/schema.ts";
import type { ColumnSpec } from "../../lib/output/encode/index.ts";
import { bucketOf, bucketPath, hash64, keyText, quoteMaria, rowText, sourceText } from "./canonical.ts";
import { type DigestSide, type Figure, figures } from "./key-diff.ts";

/**
 * The source side of a content comparison: the rows a predicate selects from the driving table, with the
 * enrichment columns joined as the agent looks them up (a LEFT JOIN on the remote unique key, matched on the exact
 * text), reduced in SQL to (key text, row hash). Nothing but figures leaves the server, except the rows of one
 * small bucket when a mismatch is narrowed down.
 */
export interface SourceRelation {
  conn: Connection;
  /** `SELECT` list of (key text AS k, row hash AS h) over the rows in scope. */
  from: string;
  params: Fragment["params"];
}

export interface SourceRelationInput {
  conn: Connection;
  info: TableInfo;
  spec: ExportSpec;
  /** The compared columns, in the manifest's order. */
  columns: ColumnSpec[];
  keyNames: string[];
  where: Fragment;
}

export async function sourceRelation(o: SourceRelationInput): Promise<SourceRelation> {
  const table = `${quoteMaria(o.info.database)}.${quoteMaria(o.info.table)}`;
  const own = new Map(o.info.columns.map((c) => [c.name.toLowerCase(), c.name]));
  const local = o.columns.filter((c) => own.has(c.name.toLowerCase()));
  const foreign = o.columns.filter((c) => !own.has(c.name.toLowerCase()));
  const lookups = foreign.length
    ? await resolveEnrichment(
        o.conn,
        o.spec,
        o.info,
        local.map((c) => c.name),
      )
    : [];
  const picked = new Set(local.map((c) => c.name));
  for (const l of lookups) picked.add(l.local);
  let rel = `SELECT ${[...picked].map(quoteMaria).join(", ")} FROM ${table} WHERE ${o.where.sql}`;
  if (lookups.length) {
    const joins: string[] = [];
    const added: string[] = [];
    for (const [i, l] of lookups.entries()) {
      const e = `e${i}`;
      const rk = `${e}.${quoteMaria(l.remoteKey)}`;
      const lk = `t0.${quoteMaria(l.local)}`;
      joins.push(
        `LEFT JOIN ${quoteMaria(l.database)}.${quoteMaria(l.table)} AS ${e} ON ${rk} = ${lk} AND BINARY CAST(${rk} AS CHAR) = BINARY CAST(${lk} AS CHAR)`,
      );
      for (const [j, c] of l.columns.entries()) added.push(`${e}.${quoteMaria(c)} AS ${quoteMaria(l.outNames[j] as string)}`);
    }
    rel = `SELECT t0.*, ${added.join(", ")} FROM (${rel}) AS t0 ${joins.join(" ")}`;
  }
  const missing = foreign.filter((c) => !lookups.some((l) => l.outNames.includes(c.name)));
  if (missing.length) throw new Error(`column ${missing[0]?.name} of the manifest is neither in the source table nor an enrichment`);
  const keyCols = o.keyNames.map((n) => o.columns.find((c) => c.name === n) ?? ({ name: n, kind: "text" } as ColumnSpec));
  const key = keyText("mariadb", keyCols.map(sourceText));
  const hash = hash64("mariadb", rowText("mariadb", o.columns.map(sourceText)));
  return { conn: o.conn, from: `SELECT ${key} AS k, ${hash} AS h FROM (${rel}) AS r`, params: o.where.params };
}

/** Count and hash sum of the whole relation. */
export async function sourceTotal(rel: SourceRelation): Promise<Figure> {
  const [[n, s]] = (await queryText(rel.conn, {
    sql: `SELECT COUNT(*), COALESCE(SUM(h), 0) FROM (${rel.from}) AS d`,
    params: rel.params,
  })) as [[string, string]];
  return { rows: Number(n), sum: BigInt(s) };
}

export function sourceSide(rel: SourceRelation): DigestSide {
  const under = (path: string) =>
    path.length === 0 ? { sql: "", params: [] } : { sql: ` WHERE ${bucketPath("mariadb", "k", path.length / 2)} = ?`, params: [path] };
  return {
    async buckets(path) {
      const w = under(path);
      const rows = await queryText(rel.conn, {
        sql: `SELECT ${bucketOf("mariadb", "k", path.length / 2)} AS b, COUNT(*), COALESCE(SUM(h), 0) FROM (${rel.from}) AS d${w.sql} GROUP BY b`,
        params: [...rel.params, ...w.params],
      });
      return figures(rows);
    },
    async rows(path) {
      const w = under(path);
      const rows = await queryText(rel.conn, { sql: `SELECT k, h FROM (${rel.from}) AS d${w.sql}`, params: [...rel.params, ...w.params] });
      return rows.map(([k, h]) => ({ key: k ?? "", hash: h ?? "0" }));
    },
  };
}
