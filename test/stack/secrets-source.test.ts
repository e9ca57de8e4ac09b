import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, type TestContext, test } from "node:test";
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { ExportSpec } from "../../config/export-spec.ts";
import { systemClock } from "../../lib/clock.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { MysqlSource } from "../../lib/mysql/range-source.ts";
import { testSim } from "../helpers/sim.ts";
import { mysqlEnv, tempDatabase } from "../helpers/temp-mysql.ts";

/** The sim accepts the keys it was started with: the stack's (SPOTFERRY_SIM_IDENTITIES) or test/test. */
/**
 * The source's password from the sim's Secrets Manager against the local MariaDB: a connection through openSource,
 * an RDS-style secret whose username wins over the spec's, and a rotation (ALTER USER + PutSecretValue) after which
 * the agent's source is refused once, resolves again, rebuilds its pool and reads on.
 */
let db: Awaited<ReturnType<typeof tempDatabase>>;
const user = `rot_${randomBytes(3).toString("hex")}`;

before(async () => {
  db = await tempDatabase("secrets");
  await db.conn.query("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))");
  await db.conn.query("INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c')");
  await db.conn.query("CREATE USER ?@'%' IDENTIFIED BY ?", [user, "first-pw"]);
  await db.conn.query(`GRANT SELECT ON \`${db.name}\`.* TO ?@'%'`, [user]);
});
after(async () => {
  await db.conn.query("DROP USER IF EXISTS ?@'%'", [user]);
  await db.drop();
});

async function secrets(t: TestContext) {
  const { sim, env, root: credentials } = await testSim(t);
  const sm = new SecretsManagerClient({
    region: "us-east-1",
    endpoint: sim.url,
    credentials,
  });
  t.after(() => sm.destroy());
  return { env, sm };
}

function spec(secretArn: string): ExportSpec["source"] {
  const { host, port } = mysqlEnv();
  // The spec's user is not the one that logs in: an RDS-style secret's username wins.
  return { host, port, user: "spec_user", password: { secretArn }, database: db.name, table: "t", maxConnections: 2, timezone: "Z" };
}

const rds = (password: string) => JSON.stringify({ engine: "mariadb", username: user, password });

test("openSource logs in with a { secretArn } password and the secret's username", async (t) => {
  const { env, sm } = await secrets(t);
  const arn = (await sm.send(new CreateSecretCommand({ Name: `db/${user}/open`, SecretString: rds("first-pw") }))).ARN as string;
  const conn = await openSource(spec(arn), env);
  try {
    const [rows] = await conn.query(`SELECT CURRENT_USER() AS u, COUNT(*) AS n FROM \`${db.name}\`.t`);
    assert.deepEqual(rows, [{ u: `${user}@%`, n: 3 }]);
  } finally {
    await conn.end();
  }
});

test("after a rotation the source is refused once, resolves the secret again, rebuilds its pool and reads", async (t) => {
  const { env, sm } = await secrets(t);
  const arn = (await sm.send(new CreateSecretCommand({ Name: `db/${user}/rotate`, SecretString: rds("first-pw") }))).ARN as string;
  const keyColumns = [{ name: "id", type: "int" as const, sqlType: "int(11)" }];
  const source = await MysqlSource.open({ spec: spec(arn), keyColumns, columns: ["id", "v"], filter: null, clock: systemClock, env });
  t.after(() => source.close());
  // The pool logs in lazily: the first login happens after the rotation, with the password resolved before it.
  await db.conn.query("ALTER USER ?@'%' IDENTIFIED BY ?", [user, "second-pw"]);
  await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: rds("second-pw") }));
  const reader = source.read({ lo: null, hi: null, cursor: null, highWatermark: null });
  const rows: unknown[] = [];
  for (let b = await reader.next(); b; b = await reader.next()) rows.push(...b.map((r) => r.slice(0, 2)));
  assert.deepEqual(rows, [
    [1, "a"],
    [2, "b"],
    [3, "c"],
  ]);
  assert.equal(source.relogins, 1);
});

test("a password that is still wrong after re-resolving fails with MySQL's error, without the value", async (t) => {
  const { env, sm } = await secrets(t);
  const arn = (await sm.send(new CreateSecretCommand({ Name: `db/${user}/wrong`, SecretString: rds("not-the-pw") }))).ARN as string;
  const source = await MysqlSource.open({
    spec: spec(arn),
    keyColumns: [{ name: "id", type: "int", sqlType: "int(11)" }],
    columns: ["id"],
    filter: null,
    clock: systemClock,
    env,
  });
  t.after(() => source.close());
  const err = (await source.columns().then(
    () => assert.fail("expected access denied"),
    (e: unknown) => e,
  )) as { code?: string; message: string };
  assert.equal(err.code, "ER_ACCESS_DENIED_ERROR");
  assert.ok(!err.message.includes("not-the-pw"));
  assert.equal(source.relogins, 1, "resolved again exactly once");
});
