import mysql, { type Connection } from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import { ExitCode, UserError } from "../errors.ts";
import { resolveSecret } from "../secrets/resolve.ts";
import type { Fragment } from "./key-sql.ts";
import { tlsConnectOptions } from "./tls.ts";

type Env = Record<string, string | undefined>;

/** What a connection to the source needs, with the password resolved (lib/secrets/resolve.ts). */
export interface SourceLogin {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
}

/**
 * The source's login: the spec's host, port and user, and its password resolved now. Values an RDS-style JSON
 * secret carries (`username`, `host`, `port`) win over the spec's, because RDS rotation with alternating users
 * changes the username under a spec that cannot follow. Resolved at every (re)connect, never cached here.
 */
export async function resolveSourceLogin(source: ExportSpec["source"], env: Env = process.env): Promise<SourceLogin> {
  if (!source.password) return { host: source.host, port: source.port, user: source.user, password: undefined };
  const s = await resolveSecret(source.password, { env, field: "source.password" });
  return { host: s.host ?? source.host, port: s.port ?? source.port, user: s.username ?? source.user, password: s.password };
}

/** MySQL's "Access denied for user" (ER_ACCESS_DENIED_ERROR): after a rotation, the password must be resolved again. */
export const isAccessDenied = (err: unknown) => {
  const e = err as { code?: string; errno?: number };
  return e?.code === "ER_ACCESS_DENIED_ERROR" || e?.errno === 1045;
};

/**
 * A connection for reading keys: utf8mb4, and the session in UTC so TIMESTAMP keys read and compare as the same
 * text in every process (the agent must open its sessions the same way). The password is resolved first; a
 * secret that cannot be read fails here with its one line, before anything else is done.
 */
export async function openSource(source: ExportSpec["source"], env: Env = process.env): Promise<Connection> {
  const login = await resolveSourceLogin(source, env);
  let conn: Connection;
  try {
    conn = await mysql.createConnection({
      host: login.host,
      port: login.port,
      user: login.user,
      password: login.password,
      charset: "UTF8MB4_GENERAL_CI",
      multipleStatements: false,
      ...tlsConnectOptions(source.tls, login),
    });
  } catch (cause) {
    throw new UserError(`connecting to the source ${login.user}@${login.host}:${login.port}`, { cause, exitCode: ExitCode.unavailable });
  }
  try {
    await conn.query("SET time_zone = '+00:00'");
  } catch (err) {
    // The session is of no use without UTC timestamps; it must not stay open behind the error.
    conn.destroy();
    throw err;
  }
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
