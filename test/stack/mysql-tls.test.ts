import assert from "node:assert/strict";
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Connection } from "mysql2/promise";
import { type ExportSpec, exportSpec, type SourceTls } from "../../config/export-spec.ts";
import { planExport, toNewExport } from "../../controller/planner/plan.ts";
import { FakeClock } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import { MemoryJobStore } from "../../lib/jobs/memory-job-store.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { openExportSource } from "../../lib/mysql/range-source.ts";
import { ensureMariadbTls } from "../../sim/stack/mariadb.ts";
import { mysqlEnv, tempDatabase } from "../helpers/temp-mysql.ts";

// source.tls against the local MariaDB, whose certificate (IP:127.0.0.1 only) is signed by the stack's own CA
// (SPOTFERRY_MYSQL_CA): each mode as MySQL's --ssl-mode defines it, a REQUIRE SSL account, and the path the CA
// takes to a node: planner -> export record -> the agent's MysqlSource, with the controller's file gone.

const stackCa = process.env.SPOTFERRY_MYSQL_CA ?? "";
const dir = mkdtempSync(join(tmpdir(), "spotferry-tls-stack-"));
// A CA that did not sign the server's certificate, made the way the stack makes its own.
const foreignCa = ensureMariadbTls(join(dir, "foreign"), () => {}).ca;
const user = `tlsonly_${randomBytes(3).toString("hex")}`;
const env = { ...process.env, TLS_TEST_PASSWORD: randomBytes(9).toString("hex") };

describe("TLS to the source (source.tls)", () => {
  let db: Awaited<ReturnType<typeof tempDatabase>>;

  const spec = (tls: SourceTls | undefined, extra: { host?: string; user?: string } = {}): ExportSpec =>
    exportSpec.parse({
      kind: "Export",
      name: "tls-test",
      source: {
        host: extra.host ?? mysqlEnv().host,
        port: mysqlEnv().port,
        user: extra.user ?? mysqlEnv().user,
        password: { env: extra.user ? "TLS_TEST_PASSWORD" : "SPOTFERRY_MYSQL_PASSWORD" },
        database: db.name,
        table: "calls",
        ...(tls ? { tls } : {}),
      },
      destination: { bucket: "tls-test-bucket" },
      partitioning: { targetRows: 1000 },
    });

  /** The session's cipher ("" when the connection is in the clear). */
  async function cipher(conn: Connection): Promise<string> {
    const [rows] = await conn.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
    return (rows as { Value: string }[])[0]?.Value ?? "";
  }
  async function connects(tls: SourceTls | undefined, extra: { host?: string; user?: string } = {}): Promise<string> {
    const conn = await openSource(spec(tls, extra).source, env);
    try {
      return await cipher(conn);
    } finally {
      await conn.end();
    }
  }
  const refused = async (tls: SourceTls | undefined, extra: { host?: string; user?: string }, pattern: RegExp) => {
    const err = await connects(tls, extra).then(
      () => assert.fail(`expected ${JSON.stringify(tls)} to ${extra.host ?? "127.0.0.1"} to be refused`),
      (e: unknown) => e,
    );
    assert.match(describeError(err), pattern);
  };

  before(async () => {
    assert.ok(stackCa, "SPOTFERRY_MYSQL_CA is not set: the local stack's MariaDB predates TLS (run `spotferry local up`)");
    db = await tempDatabase("tls");
    await db.conn.query("CREATE TABLE calls (id INT NOT NULL PRIMARY KEY, v VARCHAR(10) NOT NULL)");
    await db.conn.query("INSERT INTO calls SELECT seq, CONCAT('v', seq) FROM seq_1_to_5000");
    await db.conn.query("CREATE USER ?@'%' IDENTIFIED BY ? REQUIRE SSL", [user, env.TLS_TEST_PASSWORD]);
    await db.conn.query(`GRANT SELECT ON \`${db.name}\`.* TO ?@'%'`, [user]);
  });
  after(async () => {
    await db?.conn.query("DROP USER IF EXISTS ?@'%'", [user]);
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("no tls stays in the clear; required encrypts without checking the certificate", async () => {
    assert.equal(await connects(undefined), "");
    // The server's CA is in no default store: only an unchecked connection can succeed without it.
    assert.notEqual(await connects({ mode: "required" }), "");
  });

  test("verify-ca checks the chain against the CA but not the host name", async () => {
    assert.notEqual(await connects({ mode: "verify-ca", caFile: stackCa }), "");
    assert.notEqual(await connects({ mode: "verify-ca", caFile: stackCa }, { host: "localhost" }), "");
  });

  test("verify-full checks the host too: the IP SAN passes, localhost is refused naming the mismatch", async () => {
    assert.notEqual(await connects({ mode: "verify-full", caFile: stackCa }), "");
    await refused(
      { mode: "verify-full", caFile: stackCa },
      { host: "localhost" },
      /Hostname\/IP does not match certificate's altnames: Host: localhost/,
    );
  });

  test("a CA that did not sign the server's certificate is refused, as are Node's default CAs", async () => {
    const untrusted =
      /connecting to the source .*(self-signed certificate in certificate chain|unable to verify the first certificate|unable to get local issuer)/;
    await refused({ mode: "verify-ca", caFile: foreignCa }, {}, untrusted);
    await refused({ mode: "verify-full", caFile: foreignCa }, {}, untrusted);
    await refused({ mode: "verify-full" }, {}, untrusted);
  });

  test("a REQUIRE SSL account cannot connect without tls and can with it", async () => {
    await refused(undefined, { user }, /Access denied for user/);
    assert.notEqual(await connects({ mode: "required" }, { user }), "");
    assert.notEqual(await connects({ mode: "verify-full", caFile: stackCa }, { user }), "");
  });

  test("the CA reaches the agent through the export record: cut to the server's CA, read over TLS without the file", async () => {
    // A bundle of two CAs, as RDS's holds many: the record keeps the one that anchors the server's chain.
    const bundle = join(dir, "bundle.pem");
    writeFileSync(bundle, readFileSync(foreignCa, "utf8") + readFileSync(stackCa, "utf8"));
    const s = spec({ mode: "verify-full", caFile: bundle }, { user });
    const conn = await openSource(s.source, env);
    const plan = await planExport(s, { conn, clock: new FakeClock() }).finally(() => conn.end());
    const store = new MemoryJobStore({ clock: new FakeClock() });
    const { export: record } = await store.createExport(toNewExport("tls-test-1", s, plan));
    const tls = record.spec.source.tls;
    assert.equal(tls?.caFile, bundle);
    const kept = (tls?.ca ?? "").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    assert.deepEqual(
      kept.map((pem) => new X509Certificate(pem).fingerprint256),
      [new X509Certificate(readFileSync(stackCa)).fingerprint256],
    );
    // A node has no copy of the controller's files.
    rmSync(bundle);
    const source = await openExportSource(record, new FakeClock(), env);
    try {
      const reader = source.read({ lo: null, hi: null, cursor: null, highWatermark: record.highWatermark }, { batchRows: 1000 });
      let rows = 0;
      for (let b = await reader.next(); b; b = await reader.next()) rows += b.length;
      assert.equal(rows, 5000);
      // The pool's sessions read rows as untyped arrays (MYSQL_SOURCE_OPTIONS): [name, value].
      const [status] = await source.pool.promise().query({ sql: "SHOW SESSION STATUS LIKE 'Ssl_cipher'", rowsAsArray: true });
      assert.notEqual(String((status as unknown[][])[0]?.[1] ?? ""), "");
    } finally {
      await source.close();
    }
  });
});
