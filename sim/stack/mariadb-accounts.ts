import mysql from "mysql2/promise";

export const MYSQL_USER = "spotferry";

/**
 * What the stack's database user may do: exactly what the tests, the rehearsal and the chaos run need, on 127.0.0.1
 * only (every client reaches MariaDB over TCP on the loopback; --skip-name-resolve matches the address, never
 * "localhost"):
 * - tables and data on any database (each test makes its own): CREATE, DROP, SELECT, INSERT, UPDATE, DELETE, INDEX, ALTER;
 * - CREATE USER, and SELECT at the database level WITH GRANT OPTION: the rehearsal and the TLS/secret tests make a
 *   REQUIRE SSL login that may only SELECT their database (sim/rehearsal/identity.ts), and MariaDB refuses a GRANT
 *   without the grant option (ERROR 1044). Held on `%`.* (the database level), it cannot grant anything global;
 * - PROCESS and CONNECTION ADMIN: the chaos run lists and KILLs the sessions of the export's own login
 *   (sim/chaos/faults.ts); a user sees and kills only its own sessions without them.
 * No GRANT OPTION at the global level, no SUPER, FILE, RELOAD or SHUTDOWN.
 */
export const GLOBAL_PRIVILEGES = [
  "CREATE",
  "DROP",
  "SELECT",
  "INSERT",
  "UPDATE",
  "DELETE",
  "INDEX",
  "ALTER",
  "CREATE USER",
  "PROCESS",
  "CONNECTION ADMIN",
];
const STACK_GRANTS = [
  `GRANT ${GLOBAL_PRIVILEGES.join(", ")} ON *.* TO ?@'127.0.0.1'`,
  "GRANT SELECT ON `%`.* TO ?@'127.0.0.1' WITH GRANT OPTION",
];
const GRANTEE = `'${MYSQL_USER}'@'127.0.0.1'`;

/**
 * Makes the stack's accounts what they should be, over root's socket: the user on 127.0.0.1 with STACK_GRANTS and
 * `password`; the older `spotferry'@'%' WITH GRANT OPTION` and root's password-less TCP accounts (made by
 * mariadb-install-db) dropped, so root is reachable only through the socket in the stack's private directory.
 * Idempotent: run at every start and for a reused server at every `up`. The new account is complete before the old
 * one goes, so a client connecting meanwhile is never refused.
 */
export async function ensureStackAccounts(socketPath: string, password: string): Promise<void> {
  const conn = await mysql.createConnection({ socketPath, user: "root" });
  try {
    await conn.query("CREATE USER IF NOT EXISTS ?@'127.0.0.1' IDENTIFIED BY ?", [MYSQL_USER, password]);
    await conn.query("ALTER USER ?@'127.0.0.1' IDENTIFIED BY ?", [MYSQL_USER, password]);
    if (await holdsMoreThanItShould(conn)) {
      // A user given more by hand (or by an older stack): start again from nothing.
      await conn.query("REVOKE ALL PRIVILEGES, GRANT OPTION FROM ?@'127.0.0.1'", [MYSQL_USER]);
    }
    for (const grant of STACK_GRANTS) await conn.query(grant, [MYSQL_USER]);
    const [others] = await conn.query(
      "SELECT User AS user, Host AS host FROM mysql.user WHERE (User = ? AND Host <> '127.0.0.1') OR (User = 'root' AND Host <> 'localhost')",
      [MYSQL_USER],
    );
    for (const { user, host } of others as { user: string; host: string }[]) await conn.query("DROP USER ?@?", [user, host]);
  } catch (cause) {
    throw new Error(`setting up the local MariaDB accounts through ${socketPath}`, { cause });
  } finally {
    await conn.end();
  }
}

/** The stack user's privileges as information_schema lists them: "*.* CREATE", "`%`.* SELECT grantable", ... */
export async function stackUserPrivileges(conn: mysql.Connection): Promise<string[]> {
  const [global] = await conn.query(
    "SELECT PRIVILEGE_TYPE AS p, IS_GRANTABLE AS g FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?",
    [GRANTEE],
  );
  const [schema] = await conn.query(
    "SELECT TABLE_SCHEMA AS db, PRIVILEGE_TYPE AS p, IS_GRANTABLE AS g FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ?",
    [GRANTEE],
  );
  const [tables] = await conn.query("SELECT COUNT(*) AS n FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ?", [GRANTEE]);
  const line = (on: string, r: { p: string; g: string }) => `${on} ${r.p}${r.g === "YES" ? " grantable" : ""}`;
  return [
    ...(global as { p: string; g: string }[]).filter((r) => r.p !== "USAGE").map((r) => line("*.*", r)),
    ...(schema as { db: string; p: string; g: string }[]).map((r) => line(`\`${r.db}\`.*`, r)),
    ...(Number((tables as { n: number }[])[0]?.n) > 0 ? ["table-level privileges"] : []),
  ].sort();
}

/** What stackUserPrivileges reads once STACK_GRANTS are in place, and nothing else. */
export const EXPECTED_PRIVILEGES = [...GLOBAL_PRIVILEGES.map((p) => `*.* ${p}`), "`%`.* SELECT grantable"].sort();

async function holdsMoreThanItShould(conn: mysql.Connection): Promise<boolean> {
  return (await stackUserPrivileges(conn)).some((p) => !EXPECTED_PRIVILEGES.includes(p));
}
