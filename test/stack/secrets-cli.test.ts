import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { secretsManagerClient } from "../../lib/aws/secrets-manager.ts";
import { repoRoot } from "../../lib/paths.ts";
import { testSim } from "../helpers/sim.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";
import { mysqlEnv, tempDatabase } from "../helpers/temp-mysql.ts";

const exec = promisify(execFile);

/**
 * The built CLI, not the sources: `export plan` resolves a `{ secretArn }` password through the bundled Secrets
 * Manager client (a lazily loaded SDK once lost its named exports in the bundle while every source-level test passed).
 * A missing secret is one line naming the field and the ARN, exit 2, before anything is written; once it exists the
 * plan succeeds with the password from it.
 */
test("the built CLI plans with a password from Secrets Manager and refuses a missing secret in one line", async (t) => {
  const { sim, root } = await testSim(t);
  const [db, table] = await Promise.all([tempDatabase("clisecret"), tempStateTable("clisecret")]);
  const dir = mkdtempSync(join(tmpdir(), "spotferry-secret-cli-"));
  t.after(async () => {
    await Promise.all([db.drop(), table.drop()]);
    rmSync(dir, { recursive: true, force: true });
  });
  await db.conn.query("CREATE TABLE t (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(10))");
  await db.conn.query("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')");
  const env = { ...process.env, ...sim.env, AWS_ACCESS_KEY_ID: root.accessKeyId, AWS_SECRET_ACCESS_KEY: root.secretAccessKey };
  const name = `spotferry/cli-test/${db.name}`;
  const arnOf = (suffix: string) => `arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-${suffix}`;
  const spec = (secretArn: string) => {
    const file = join(dir, `export-${secretArn.slice(-6)}.json`);
    const { host, port, user } = mysqlEnv();
    writeFileSync(
      file,
      JSON.stringify({
        kind: "Export",
        name: "cli-secret",
        pool: "p",
        source: { host, port, user, password: { secretArn }, database: db.name, table: "t" },
        destination: { bucket: "cli-secret-out", format: "ndjson" },
      }),
    );
    return file;
  };
  const plan = (file: string) =>
    exec(
      process.execPath,
      [join(repoRoot, "bin", "spotferry.mjs"), "export", "plan", "--config", file, "--state-table", table.tableName, "--json"],
      {
        env,
      },
    ).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  const missing = await plan(spec(arnOf("AbCdEf")));
  assert.equal(missing.code, 2, missing.stderr);
  assert.equal(missing.stderr.trim(), `error: source.password: secret ${arnOf("AbCdEf")} does not exist`);

  const sm = secretsManagerClient(env);
  t.after(() => sm.destroy());
  const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: mysqlEnv().password }));
  const ok = await plan(spec(created.ARN ?? assert.fail("no ARN")));
  assert.equal(ok.code, 0, ok.stderr);
  assert.doesNotMatch(ok.stdout + ok.stderr, new RegExp(mysqlEnv().password), "the password is never printed");
});
