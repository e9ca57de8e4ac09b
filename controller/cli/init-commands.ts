import { existsSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { parseConfigText, validateConfig } from "../../config/load.ts";
import { intFlag } from "../../lib/cli/flags.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { describeTable, type TableInfo } from "../../lib/mysql/schema.ts";
import { type ChosenKey, chooseKey } from "../planner/key-discovery.ts";

/**
 * `spotferry init --table db.table`: a commented export spec written from information_schema. The connection is the
 * one specs use, from the same environment `source .spotferry/local.env` sets up (SPOTFERRY_MYSQL_HOST, _PORT, _USER,
 * _PASSWORD, _CA), written into the spec as `${VAR}` references so it runs unchanged wherever those are set; a flag
 * (--host, --port, --user, --password-env, --tls-ca) is written as its literal value instead. The text printed is
 * parsed and validated again before it is printed or written, so what init prints is what `export run` accepts.
 */
export interface InitFlags {
  table: string;
  format: string;
  file?: string;
  force?: boolean;
  pool: string;
  name?: string;
  bucket: string;
  host?: string;
  port?: string;
  user?: string;
  passwordEnv?: string;
  tlsCa?: string;
}

type Env = Record<string, string | undefined>;
const usage = (message: string) => new UserError(message, { exitCode: ExitCode.usage });

export function registerInitCommands(program: Command): void {
  program
    .command("init")
    .requiredOption("--table <db.table>", "the source table, as database.table")
    .option("--format <format>", "output format: parquet, ndjson or csv", "parquet")
    .option("-f, --file <file>", "write the spec to this file instead of stdout (refused if it exists, unless --force)")
    .option("--force", "overwrite --file when it exists")
    .option("--pool <name>", "the spot pool that works on the export", "default")
    .option("--name <name>", "the export's name (default: from the table's name)")
    .option("--bucket <bucket>", "destination bucket", "spotferry-exports")
    .option("--host <host>", `source host (default: \${SPOTFERRY_MYSQL_HOST}, else 127.0.0.1)`)
    .option("--port <port>", `source port (default: \${SPOTFERRY_MYSQL_PORT}, else 3306)`)
    .option("--user <user>", `source user (default: \${SPOTFERRY_MYSQL_USER})`)
    .option("--password-env <name>", "the variable that holds the password (default: SPOTFERRY_MYSQL_PASSWORD when set)")
    .option("--tls-ca <file>", `verify the server against this CA bundle (default: \${SPOTFERRY_MYSQL_CA} when set)`)
    .action((flags: InitFlags) => runCommand(() => init(flags)));
}

async function init(flags: InitFlags, env: Env = process.env): Promise<void> {
  const target = tableFlag(flags.table);
  if (!["parquet", "ndjson", "csv"].includes(flags.format))
    throw usage(`--format: expected one of parquet|ndjson|csv, got ${JSON.stringify(flags.format)}`);
  if (flags.file && !flags.force && existsSync(flags.file)) throw usage(`${flags.file} exists (pass --force to overwrite it)`);
  const spec = specTemplate({ flags, target, env });
  // Checked (names, bucket, the variables' values) before connecting, with the same resolution `export run` applies.
  const resolved = validateConfig(parseConfigText(renderSpec({ spec, info: null, key: null }), "init"), "spotferry init", "Export", {
    env,
  });
  const conn = await openSource(resolved.source, env);
  let info: TableInfo;
  let key: ChosenKey;
  try {
    info = await describeTable(conn, target.database, target.table).catch((cause: unknown) => {
      if (!(cause instanceof UserError)) throw new Error(`reading information_schema for ${flags.table}`, { cause });
      throw usage(
        / not found /.test(cause.message)
          ? `--table ${flags.table}: no such table (or the user cannot see it)`
          : `--table ${flags.table}: ${cause.message}`,
      );
    });
    key = keyOf(info, flags.table);
  } finally {
    await conn.end();
  }
  const text = renderSpec({ spec: { ...spec, database: info.database, table: info.table }, info, key });
  validateConfig(parseConfigText(text, "init"), "spotferry init (the spec written)", "Export", { env });
  if (!flags.file) {
    process.stdout.write(text);
    return;
  }
  writeFileSync(flags.file, text, { flag: flags.force ? "w" : "wx" });
  process.stderr.write(
    `wrote ${flags.file} (${info.database}.${info.table}, key ${key.columns.map((c) => c.name).join(", ")}); ` +
      `run it: npx spotferry export run --config ${flags.file} --local --create-bucket\n`,
  );
}

function tableFlag(text: string): { database: string; table: string } {
  const m = /^([^.`]+)\.([^.`]+)$/.exec(text);
  if (!m) throw usage(`--table: expected database.table, got ${JSON.stringify(text)}`);
  return { database: m[1] as string, table: m[2] as string };
}

function keyOf(info: TableInfo, asked: string): ChosenKey {
  try {
    return chooseKey(info);
  } catch (err) {
    if (err instanceof UserError) throw usage(`--table ${asked}: ${err.message.replace(`${info.database}.${info.table}: `, "")}`);
    throw err;
  }
}

/** What init writes before it has seen the table: every choice the flags and the environment make. */
export interface SpecTemplate {
  name: string;
  pool: string;
  bucket: string;
  format: string;
  host: string;
  port: string | number;
  user: string;
  passwordEnv?: string;
  caFile?: string;
  database: string;
  table: string;
}

function specTemplate(o: { flags: InitFlags; target: { database: string; table: string }; env: Env }): SpecTemplate {
  const { flags, env } = o;
  const fromEnv = (name: string) => (env[name] !== undefined ? `\${${name}}` : undefined);
  const user = flags.user ?? fromEnv("SPOTFERRY_MYSQL_USER");
  if (user === undefined)
    throw usage("--user or SPOTFERRY_MYSQL_USER is required (`source .spotferry/local.env` sets it for the local stack)");
  const passwordEnv = flags.passwordEnv ?? (env.SPOTFERRY_MYSQL_PASSWORD !== undefined ? "SPOTFERRY_MYSQL_PASSWORD" : undefined);
  const caFile = flags.tlsCa ?? (env.SPOTFERRY_MYSQL_CA ? `\${SPOTFERRY_MYSQL_CA}` : undefined);
  return {
    name: flags.name ?? nameOf(o.target.table),
    pool: flags.pool,
    bucket: flags.bucket,
    format: flags.format,
    host: flags.host ?? fromEnv("SPOTFERRY_MYSQL_HOST") ?? "127.0.0.1",
    port: flags.port !== undefined ? intFlag("--port", flags.port, { min: 1, max: 65535 }) : (fromEnv("SPOTFERRY_MYSQL_PORT") ?? 3306),
    user,
    ...(passwordEnv ? { passwordEnv } : {}),
    ...(caFile ? { caFile } : {}),
    ...o.target,
  };
}

/** An export name from a table name: lowercase letters, digits and hyphens, at most 63. */
export function nameOf(table: string): string {
  const name = table
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return name || "export";
}

const YAML_WORDS = /^(true|false|null|yes|no|on|off|y|n|~)$/i;
/** A YAML scalar that reads back as the same string: plain when unambiguous, else double-quoted (JSON is valid YAML). */
export const scalar = (s: string) => (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s) && !YAML_WORDS.test(s) ? s : JSON.stringify(s));
const list = (items: string[]) => `[${items.map(scalar).join(", ")}]`;

/** The spec's text; without `info` (before the table is read) only what the flags and environment decide. */
export function renderSpec(o: { spec: SpecTemplate; info: TableInfo | null; key: ChosenKey | null }): string {
  const { spec, info, key } = o;
  const port = typeof spec.port === "number" ? String(spec.port) : JSON.stringify(spec.port);
  const keyNames = key?.columns.map((c) => c.name) ?? [];
  const lines = [
    `# Export ${spec.database}.${spec.table} to s3://${spec.bucket}/${spec.name}/ as ${spec.format}, written by \`spotferry init\`.`,
    "# Check it: npx spotferry config check FILE; run it here: npx spotferry export run --config FILE --local --create-bucket",
    ...(info ? tableComment(info, keyNames) : []),
    "kind: Export",
    `name: ${scalar(spec.name)}`,
    `pool: ${scalar(spec.pool)} # the spot pool (kind: Pool) whose nodes work on it; --local runs use local-${spec.pool}`,
    "source:",
    `  # \${VAR} is read from the environment where the spec is loaded (export plan/run); the password's { env } on each node.`,
    `  host: ${JSON.stringify(spec.host)}`,
    `  port: ${port}`,
    `  user: ${JSON.stringify(spec.user)}`,
    ...(spec.passwordEnv ? [`  password: { env: ${spec.passwordEnv} } # or { secretArn: ARN } / { ssmParameter: NAME }`] : []),
    `  database: ${scalar(spec.database)}`,
    `  table: ${scalar(spec.table)}`,
    ...(key ? keyLines(key) : []),
    ...(info ? [`  # columns: ${list(info.columns.map((c) => c.name))} # default: every column, in table order`] : []),
    ...(info?.columns.some((c) => c.dataType === "datetime")
      ? ["  # timezone: Z # the zone DATETIME values are read in (TIMESTAMP is always UTC)"]
      : []),
    '  # filter: [{ column: NAME, op: ">=", value: VALUE }] # AND-ed predicates; values are bound, never spliced',
    "  maxConnections: 2 # per agent: protects the source",
    spec.caFile
      ? `  tls: { mode: verify-full, caFile: ${JSON.stringify(spec.caFile)} } # the server's certificate is checked against this CA`
      : "  # tls: { mode: verify-full, caFile: /path/to/ca.pem } # required | verify-ca | verify-full, as MySQL's --ssl-mode",
    "destination:",
    `  bucket: ${JSON.stringify(spec.bucket)}`,
    `  prefix: ${JSON.stringify(`${spec.name}/`)} # objects go under <prefix><export id>/, with _manifest.json and _SUCCESS`,
    `  format: ${spec.format}`,
    spec.format === "parquet" ? "  compression: zstd # zstd | snappy | gzip | none" : "  compression: gzip # gzip | zstd | none",
    "  chunk: { maxRows: 500000, maxBytes: 128MiB } # a chunk is one object and one commit; an interruption costs at most one",
    "partitioning:",
    `  targetRows: 2000000 # rows per partition${info ? ` (about ${Math.max(1, Math.ceil(info.estimatedRows / 2_000_000))} partitions for this table)` : ""}`,
    "retry: { maxAttempts: 5, backoff: 30s } # attempts before a partition is quarantined",
  ];
  return `${lines.join("\n")}\n`;
}

function tableComment(info: TableInfo, keyNames: string[]): string[] {
  const width = Math.min(32, Math.max(...info.columns.map((c) => c.name.length)));
  const typeWidth = Math.min(32, Math.max(...info.columns.map((c) => c.columnType.length)));
  const unique = info.indexes.filter((ix) => ix.unique).map((ix) => `${ix.name} (${ix.columns.join(", ")})`);
  return [
    `# ~${info.estimatedRows.toLocaleString("en-US")} rows (the server's estimate); ${info.columns.length} columns:`,
    ...info.columns.map((c) =>
      `#   ${c.name.padEnd(width)}  ${c.columnType.padEnd(typeWidth)}  ${c.nullable ? "NULL" : "NOT NULL"}${keyNames.includes(c.name) ? "  key" : ""}`.trimEnd(),
    ),
    `# unique keys: ${unique.length > 0 ? unique.join("; ") : "none"}`,
  ];
}

function keyLines(key: ChosenKey): string[] {
  const names = key.columns.map((c) => c.name);
  const which = `${key.index === "PRIMARY" ? "the primary key" : `unique index ${key.index}`} (${names.join(", ")})`;
  return [
    `  # Partitioned on ${which}: key ranges become partitions, and a resumed partition continues after its last committed key.`,
    `  partitionKey: ${list(names)}`,
  ];
}
