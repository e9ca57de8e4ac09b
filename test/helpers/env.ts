import { randomBytes } from "node:crypto";

/** A variable the local stack provides (`npm test` loads `.spotferry/local.env`); fails loudly when it is missing. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\` (it starts the local stack and loads its env)`);
  return value;
}

/** A name unique to this test run, so each test file owns its tables, databases and bucket prefixes. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
}

export function mysqlOptions(database?: string) {
  return {
    host: requireEnv("SPOTFERRY_MYSQL_HOST"),
    port: Number(requireEnv("SPOTFERRY_MYSQL_PORT")),
    user: requireEnv("SPOTFERRY_MYSQL_USER"),
    password: requireEnv("SPOTFERRY_MYSQL_PASSWORD"),
    ...(database ? { database } : {}),
  };
}

/** The `source` block of an export spec for a table on the local stack's MariaDB (password from its variable). */
export function stackSource(database: string, table: string) {
  return {
    host: requireEnv("SPOTFERRY_MYSQL_HOST"),
    port: Number(requireEnv("SPOTFERRY_MYSQL_PORT")),
    user: requireEnv("SPOTFERRY_MYSQL_USER"),
    password: { env: "SPOTFERRY_MYSQL_PASSWORD" },
    database,
    table,
  };
}
