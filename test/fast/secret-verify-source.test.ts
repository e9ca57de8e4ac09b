import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { ExportSpec } from "../../config/export-spec.ts";
import { verifySource } from "../../controller/verify/connection.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";

/**
 * `export verify` / `schedule verify` connect where the operator says (flags or the local spec), never where the
 * manifest in the bucket says: its host, port, user, password and tls are all replaced; only what to compare stays.
 */
const manifestSource: ExportSpec["source"] = {
  host: "attacker.example",
  port: 6033,
  user: "root",
  password: { env: "OPERATOR_PASSWORD" },
  database: "telephony",
  table: "call_log",
  maxConnections: 2,
  timezone: "Z",
  filter: [{ column: "status", op: "=", value: "done" }] as ExportSpec["source"]["filter"],
  tls: { mode: "required" },
};

const refused = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => assert.fail("expected a refusal"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UserError);
  assert.equal(err.exitCode, ExitCode.usage);
  return err.message;
};

test("without --config or --host verify refuses in one line instead of using the manifest's connection", async () => {
  assert.match(
    await refused(verifySource({}, manifestSource)),
    /^verify needs the source connection from you, not from the bucket: pass --config FILE/,
  );
});

test("flags give host, port, user, password and tls; nothing of the manifest's connection is kept", async () => {
  const s = await verifySource(
    { host: "db.internal", user: "verifier", passwordSecret: "arn:aws:secretsmanager:us-east-1:1:secret:db" },
    manifestSource,
  );
  assert.deepEqual(
    [s.host, s.port, s.user, s.password, s.tls],
    ["db.internal", 3306, "verifier", { secretArn: "arn:aws:secretsmanager:us-east-1:1:secret:db" }, undefined],
  );
  assert.deepEqual([s.database, s.table, s.filter], [manifestSource.database, manifestSource.table, manifestSource.filter]);
  const ssm = await verifySource({ host: "h", port: "3307", user: "u", passwordSsm: "/db/pw", tls: "verify-full" }, manifestSource);
  assert.deepEqual([ssm.port, ssm.password, ssm.tls], [3307, { ssmParameter: "/db/pw" }, { mode: "verify-full" }]);
  const none = await verifySource({ host: "h", user: "u" }, manifestSource);
  assert.equal(none.password, undefined, "no password flag: none, not the manifest's");
  assert.match(await refused(verifySource({ host: "h" }, manifestSource)), /^verify connection .*user/);
  assert.match(await refused(verifySource({ host: "h", user: "u", passwordEnv: "A", passwordSsm: "/b" }, manifestSource)), /only one of/);
});

test("--config takes the local spec's connection; flags override it; another table is refused", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "spotferry-verify-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const example = readFileSync(new URL("../../config/examples/call-log-export.yaml", import.meta.url), "utf8");
  const file = join(dir, "export.yaml");
  writeFileSync(file, example.replace("host: 127.0.0.1", "host: db.local").replace("user: spotferry", "user: reader"));
  const s = await verifySource({ config: file }, manifestSource);
  assert.deepEqual(
    [s.host, s.port, s.user, s.password, s.tls],
    ["db.local", 3306, "reader", { env: "SPOTFERRY_MYSQL_PASSWORD" }, undefined],
  );
  const o = await verifySource({ config: file, host: "replica.local", passwordEnv: "RO_PW" }, manifestSource);
  assert.deepEqual([o.host, o.user, o.password], ["replica.local", "reader", { env: "RO_PW" }]);
  const other = join(dir, "other.yaml");
  writeFileSync(other, example.replace("table: call_log", "table: invoices"));
  assert.match(
    await refused(verifySource({ config: other }, manifestSource)),
    /source telephony\.invoices is not the manifest's telephony\.call_log$/,
  );
});
