import mysql, { type Connection } from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { SecretRef } from "../../config/secret.ts";
import { ExitCode, UserError } from "../errors.ts";
import type { Fragment } from "./key-sql.ts";

type Env = Record<string, string | undefined>;

/** The source password. Local mode reads an environment variable; Secrets Manager and SSM are not wired in yet. */
export function resolvePassword(ref: SecretRef | undefined, env: Env = process.env): string | undefined {
  if (!ref) return undefined;
  if ("env" in ref) {
    const v = env[ref.env];
    if (v === undefined) throw new UserError(`source.password: environment variable ${ref.env} is not set`, { exitCode: ExitCode.usage });
    return v;
  }
  throw new UserError("source.password: only { env: NAME } is supported by the planner so far", { exitCode: ExitCode.unavailable });
}

/**
 * A connection for reading keys: utf8mb4, and the session in UTC so TIMESTAMP keys read and compare as the same
 * text in every process (the agent must open its sessions the same way).
 */
export async function openSource(source: ExportSpec["source"], env: Env = process.env): Promise<Connection> {
  let conn: Connection;
  try {
    conn = await mysql.createConnection({
      host: source.host,
      port: source.port,
      user: source.user,
      password: resolvePassword(source.password, env),
      charset: "UTF8MB4_GENERAL_CI",
      multipleStatements: false,
    });
  } catch (cause) {
    throw new UserError(`connecting to the source ${source.user}@${source.host}:${source.port}`, { cause, exitCode: ExitCode.unavailable });
  }
  await conn.query("SET time_zone = '+00:00'");
  return conn;
}

/**
 * Runs a query and returns every value as its exact text (null for NULL): rows come back untyped from the text
 * protocol, so no key is ever parsed into a JS number or Date.
 */
export async function queryText(conn: Connection, q: Fragment): Promise<(string | null)[][]> {
  const [rows] = await conn.query({ sql: q.sql, values: q.params, rowsAsArray: true, typeCast: false });
  return (rows as (Buffer | null)[][]).map((r) => r.map((v) => (v === null ? null : v.toString("utf8"))));
}
