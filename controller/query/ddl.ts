import type { ColumnSpec } from "../../lib/output/encode/index.ts";
import type { Manifest } from "../../lib/output/manifest.ts";
import { type Engine, type EngineType, engineType, type TypeOptions } from "./types.ts";

/**
 * CREATE statements over exactly the manifest's objects. The data prefix can also hold objects of fenced or abandoned
 * attempts until finalize has removed them, so no statement points at the prefix: each names the manifest's objects
 * through the engine's own file-list mechanism (Athena: a SymlinkTextInputFormat symlink file; Redshift Spectrum: a
 * manifest of entries; Spark: a path glob of the object names, which Hadoop expands; DuckDB: a list of paths).
 */
export interface DdlOptions {
  manifest: Manifest;
  engine: Engine;
  /** Table (or view) name; default: the spec's name with '-' as '_' (Redshift: in the external schema `spectrum`). */
  table?: string;
  /** DuckDB: where an object is read from (default its s3:// URL); `spotferry query` passes local copies. */
  location?: (key: string) => string;
}

/** A small object the statement depends on, to be written next to the manifest before the statement is run. */
export interface SideObject {
  key: string;
  body: string;
  contentType: string;
}

export interface Ddl {
  statement: string;
  objects: SideObject[];
}

export const athenaSymlinkKey = (exportPrefix: string) => `${exportPrefix}_athena/symlink.txt`;
export const redshiftManifestKey = (exportPrefix: string) => `${exportPrefix}_redshift.manifest`;

interface Column {
  name: string;
  spec: ColumnSpec;
  t: EngineType;
}

export function defaultTableName(manifest: Manifest, engine: Engine): string {
  const base = manifest.spec.name.replace(/-/g, "_");
  return engine === "redshift" ? `spectrum.${base}` : base;
}

export function buildDdl(opts: DdlOptions): Ddl {
  const { manifest, engine } = opts;
  const format = manifest.spec.destination.format;
  if (engine !== "duckdb" && format !== "parquet") {
    throw new Error(`--engine ${engine} reads Parquet exports; export ${manifest.exportId} is ${format} (use --engine duckdb)`);
  }
  const typeOpts: TypeOptions = { format, tinyint1AsBoolean: manifest.spec.destination.parquet?.tinyint1AsBoolean ?? false };
  const columns = manifest.schema.map((spec) => ({ name: spec.name, spec, t: engineType(engine, spec, typeOpts) }));
  const table = opts.table ?? defaultTableName(manifest, engine);
  const keys = manifest.partitions.flatMap((p) => p.chunks.map((c) => c.key));
  const header = `-- spotferry export ${manifest.exportId}: ${manifest.totals.rows} rows in ${keys.length} objects (format ${format})`;
  switch (engine) {
    case "athena":
      return athena(manifest, table, columns, keys, header);
    case "redshift":
      return redshift(manifest, table, columns, header);
    case "spark":
      return { statement: spark(manifest, table, columns, keys, header), objects: [] };
    default:
      return { statement: duckdb(manifest, table, columns, keys, header, opts.location), objects: [] };
  }
}

const s3Url = (bucket: string, key: string) => `s3://${bucket}/${key}`;
const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;
const backtick = (s: string) => `\`${s.replace(/`/g, "``")}\``;
const dquote = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * Column lines with their notes: `-- note` after the column, or Hive's `COMMENT 'note'` (Athena's DDL takes no `--`
 * comments). Columns the engine cannot read follow as `--` lines, or (hive) are named in the table comment.
 */
function columnLines(columns: Column[], quote: (s: string) => string, style: "sql" | "hive" = "sql"): string[] {
  const readable = columns.filter((c) => !c.t.unreadable);
  const lines = readable.map((c, i) => {
    const comma = i < readable.length - 1 ? "," : "";
    if (style === "hive") return `  ${quote(c.name)} ${c.t.type}${c.t.note ? ` COMMENT ${sqlString(c.t.note)}` : ""}${comma}`;
    const line = `  ${quote(c.name)} ${c.t.type}${comma}`;
    return c.t.note ? `${line}  -- ${c.t.note}` : line;
  });
  if (style === "sql") for (const c of columns.filter((x) => x.t.unreadable)) lines.push(`  -- ${quote(c.name)} left out: ${c.t.note}`);
  return lines;
}

function athena(manifest: Manifest, table: string, columns: Column[], keys: string[], header: string): Ddl {
  const symlink = athenaSymlinkKey(manifest.prefix);
  const left = columns.filter((c) => c.t.unreadable).map((c) => `; ${c.name} left out: ${c.t.note}`);
  const about = `${header.replace(/^-- /, "")}; reads only the objects listed in ${s3Url(manifest.bucket, symlink)}${left.join("")}`;
  const statement = [
    `CREATE EXTERNAL TABLE ${table} (`,
    ...columnLines(columns, backtick, "hive"),
    ")",
    `COMMENT ${sqlString(about)}`,
    "ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'",
    "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'",
    "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'",
    `LOCATION ${sqlString(s3Url(manifest.bucket, symlink.slice(0, symlink.lastIndexOf("/") + 1)))}`,
    "",
  ].join("\n");
  const body = keys.map((k) => `${s3Url(manifest.bucket, k)}\n`).join("");
  return { statement, objects: [{ key: symlink, body, contentType: "text/plain" }] };
}

function redshift(manifest: Manifest, table: string, columns: Column[], header: string): Ddl {
  const key = redshiftManifestKey(manifest.prefix);
  const statement = [
    header,
    `-- Reads only the objects listed in ${s3Url(manifest.bucket, key)} (written by spotferry ddl);`,
    `-- the external schema (${table.includes(".") ? table.split(".")[0] : "spectrum"}) must exist: CREATE EXTERNAL SCHEMA ... FROM DATA CATALOG.`,
    `CREATE EXTERNAL TABLE ${table} (`,
    ...columnLines(columns, dquote),
    ")",
    "STORED AS PARQUET",
    `LOCATION ${sqlString(s3Url(manifest.bucket, key))};`,
    "",
  ].join("\n");
  const entries = manifest.partitions.flatMap((p) =>
    p.chunks.map((c) => ({ url: s3Url(manifest.bucket, c.key), mandatory: true, meta: { content_length: c.bytes } })),
  );
  const body = `{"entries": [\n${entries.map((e) => `  ${JSON.stringify(e)}`).join(",\n")}\n]}\n`;
  return { statement, objects: [{ key, body, contentType: "application/json" }] };
}

function spark(manifest: Manifest, table: string, columns: Column[], keys: string[], header: string): string {
  const lines = [header];
  if (keys.length === 0) {
    const cols = columns.filter((c) => !c.t.unreadable).map((c) => `CAST(NULL AS ${c.t.type}) AS ${backtick(c.name)}`);
    return [...lines, `CREATE TEMPORARY VIEW ${table} AS SELECT ${cols.join(", ")} WHERE false;`, ""].join("\n");
  }
  const data = `${manifest.prefix}data/`;
  const rel = keys.map((k) => (k.startsWith(data) ? k.slice(data.length) : k));
  // One Hadoop glob naming each object: {a,b} alternatives may hold '/', which Hadoop's GlobExpander splits out.
  const base = keys.every((k) => k.startsWith(data)) ? `s3a://${manifest.bucket}/${data}` : `s3a://${manifest.bucket}/`;
  return [
    ...lines,
    "-- Reads only the manifest's objects: the path is a glob listing each of them.",
    `CREATE TEMPORARY VIEW ${table} (`,
    ...columnLines(columns, backtick),
    ")",
    "USING parquet",
    `OPTIONS (path ${sqlString(`${base}{${rel.join(",")}}`)});`,
    "",
  ].join("\n");
}

/** How a text format's column (read as VARCHAR) becomes its type; Parquet columns already have it. */
function duckExpr(c: Column, format: string): string {
  const q = dquote(c.name);
  if (format !== "parquet" && c.spec.kind === "binary") return `from_base64(${q})`;
  return `CAST(${q} AS ${c.t.type})`;
}

function duckdb(
  manifest: Manifest,
  table: string,
  columns: Column[],
  keys: string[],
  header: string,
  location?: (key: string) => string,
): string {
  const format = manifest.spec.destination.format;
  const lines = [header];
  for (const c of columns.filter((x) => x.t.note)) lines.push(`-- ${c.name}: ${c.t.note}`);
  if (keys.length === 0) {
    const cols = columns.map((c) => `  ${dquote(c.name)} ${c.t.type}`).join(",\n");
    return [...lines, `CREATE TABLE ${dquote(table)} (\n${cols}\n);`, ""].join("\n");
  }
  if (!location) lines.push("-- s3:// paths need DuckDB's httpfs extension and an S3 secret (CREATE SECRET (TYPE s3, ...)).");
  const paths = keys.map((k) => `  ${sqlString(location ? location(k) : s3Url(manifest.bucket, k))}`).join(",\n");
  const list = `[\n${paths}\n]`;
  const asText = `{${columns.map((c) => `${sqlString(c.name)}: 'VARCHAR'`).join(", ")}}`;
  const from =
    format === "parquet"
      ? `read_parquet(${list})`
      : format === "ndjson"
        ? `read_json(${list}, format = 'newline_delimited', columns = ${asText})`
        : `read_csv(${list}, header = true, delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false, auto_detect = false, columns = ${asText})`;
  const select = columns.map((c) => `  ${duckExpr(c, format)} AS ${dquote(c.name)}`).join(",\n");
  return [...lines, `CREATE VIEW ${dquote(table)} AS`, "SELECT", select, `FROM ${from};`, ""].join("\n");
}
