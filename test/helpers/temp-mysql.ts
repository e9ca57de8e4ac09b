import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";

/** Connection settings of the local MariaDB, only from SPOTFERRY_MYSQL_* (written by `npx spotferry local up`). */
export function mysqlEnv(): { host: string; port: number; user: string; password: string } {
  const { SPOTFERRY_MYSQL_HOST: host, SPOTFERRY_MYSQL_PORT: port, SPOTFERRY_MYSQL_USER: user } = process.env;
  if (!host || !port || !user) {
    throw new Error("SPOTFERRY_MYSQL_HOST/PORT/USER are not set: run `npx spotferry local up` and source .spotferry/local.env");
  }
  return { host, port: Number(port), user, password: process.env.SPOTFERRY_MYSQL_PASSWORD ?? "" };
}

/** A database of its own for one test file; `drop` removes it and closes the connection. */
export async function tempDatabase(prefix: string): Promise<{ name: string; conn: mysql.Connection; drop(): Promise<void> }> {
  const env = mysqlEnv();
  const name = `t_${prefix}_${randomBytes(4).toString("hex")}`;
  const conn = await mysql.createConnection({ ...env, multipleStatements: false, supportBigNumbers: true, bigNumberStrings: true });
  await conn.query(`CREATE DATABASE \`${name}\``);
  await conn.query(`USE \`${name}\``);
  return {
    name,
    conn,
    drop: async () => {
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}
