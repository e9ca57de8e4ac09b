import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import mysql from "mysql2/promise";
import { cliBin } from "../../lib/paths.ts";
import { EXPECTED_PRIVILEGES, MYSQL_USER, stackUserPrivileges } from "../../sim/stack/mariadb-accounts.ts";
import { SECRET_FILES, stackHome } from "../../sim/stack/stack.ts";
import { mysqlOptions, uniqueName } from "../helpers/env.ts";
import { tempDatabase } from "../helpers/temp-mysql.ts";

/**
 * Issue 14, secrets at rest: the stack's files that hold a password are 0600 (an older stack's are fixed at `up`),
 * and the database user exists on 127.0.0.1 only, with no global GRANT OPTION and only what the tests need; an
 * older stack's 'spotferry'@'%' WITH GRANT OPTION (and root's password-less TCP accounts) are migrated away at `up`.
 */

const home = stackHome();
const mode = (file: string) => statSync(file).mode & 0o777;
const socket = () =>
  (JSON.parse(readFileSync(join(home, "stack.json"), "utf8")) as { services: { mariadb: { extra: { socket: string } } } }).services.mariadb
    .extra.socket;

async function accounts(): Promise<string[]> {
  const root = await mysql.createConnection({ socketPath: socket(), user: "root" });
  try {
    const [rows] = await root.query("SELECT CONCAT(User, '@', Host) AS a FROM mysql.user WHERE User IN (?, 'root') ORDER BY a", [
      MYSQL_USER,
    ]);
    return (rows as { a: string }[]).map((r) => r.a);
  } finally {
    await root.end();
  }
}

async function privileges(): Promise<string[]> {
  const root = await mysql.createConnection({ socketPath: socket(), user: "root" });
  try {
    return await stackUserPrivileges(root);
  } finally {
    await root.end();
  }
}

test("an older stack's world-readable state file and wide-open database user are fixed at `local up`", async () => {
  // Make the shared stack look like one from before issue 14 (the new account stays: clients keep connecting).
  chmodSync(join(home, "stack.json"), 0o644);
  const root = await mysql.createConnection({ socketPath: socket(), user: "root" });
  try {
    const { password } = mysqlOptions();
    await root.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [MYSQL_USER, password]);
    await root.query("GRANT ALL PRIVILEGES ON *.* TO ?@'%' WITH GRANT OPTION", [MYSQL_USER]);
    await root.query("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'");
  } finally {
    await root.end();
  }
  await promisify(execFile)(process.execPath, [cliBin, "local", "up"], { env: process.env, timeout: 300_000 });

  for (const file of SECRET_FILES(home)) assert.equal(mode(file).toString(8), "600", file);
  assert.equal(mode(join(home, "mariadb")).toString(8), "700", "the directory of root's socket");
  assert.deepEqual(await accounts(), ["root@localhost", `${MYSQL_USER}@127.0.0.1`]);
  assert.deepEqual(await privileges(), EXPECTED_PRIVILEGES);
});

test("the stack user can do what the tests need and no more", async () => {
  const conn = await mysql.createConnection(mysqlOptions());
  const db = await tempDatabase("grants");
  const user = uniqueName("sf_grants").replaceAll("-", "_");
  try {
    const [[me]] = (await conn.query("SELECT CURRENT_USER() AS u")) as unknown as [{ u: string }[]];
    assert.equal(me!.u, `${MYSQL_USER}@127.0.0.1`);
    // What the rehearsal does (sim/rehearsal/identity.ts): a REQUIRE SSL login that may SELECT one database.
    await conn.query("CREATE USER ?@'%' IDENTIFIED BY 'x' REQUIRE SSL", [user]);
    await conn.query(`GRANT SELECT ON \`${db.name}\`.* TO ?@'%'`, [user]);
    // Nothing global can be handed on, and nothing it does not hold.
    await assert.rejects(conn.query("GRANT SELECT ON *.* TO ?@'%'", [user]), /Access denied/);
    await assert.rejects(conn.query("GRANT CREATE USER ON *.* TO ?@'%'", [user]), /Access denied/);
    await assert.rejects(conn.query(`GRANT TRIGGER ON \`${db.name}\`.* TO ?@'%'`, [user]), /Access denied/);
    await assert.rejects(conn.query("SET GLOBAL innodb_flush_log_at_trx_commit = 2"), /Access denied|SUPER/);
  } finally {
    await conn.query("DROP USER IF EXISTS ?@'%'", [user]).catch(() => {});
    await db.drop();
    await conn.end();
  }
});
