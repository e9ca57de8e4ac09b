import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { ConfigError, loadConfigFile, parseConfigText, validateConfig } from "../../config/load.ts";
import { repoRoot } from "../../sim/stack/stack.ts";

// Issue 17: an Export spec takes its source host, port, user and database from the environment (`${VAR}` or
// `{ env: VAR }`), resolved where the spec is loaded; an unset variable or a port outside 1..65535 is one line naming
// the field and the variable, exit 2, before anything is contacted.

const dir = mkdtempSync(join(tmpdir(), "spotferry-env-refs-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const env = { DB_HOST: "db.internal", DB_PORT: "35137", DB_USER: "reader", DB_NAME: "telephony", STAGE: "prod" };

function spec(source: string): unknown {
  return parseConfigText(
    `kind: Export\nname: calls\nsource:\n${source}\n  password: { env: DB_PASSWORD }\n  table: call_log\ndestination: { bucket: exports-bucket }\n`,
    "spec.yaml",
  );
}

function problems(source: string, e: Record<string, string> = env): string[] {
  try {
    validateConfig(spec(source), "spec.yaml", "Export", { env: e });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  return assert.fail("expected the spec to be refused");
}

describe(`\${VAR} and { env: VAR } in the source block`, () => {
  test("whole values, a reference inside a string and { env } are resolved; the port becomes a number", () => {
    const s = validateConfig(
      spec(`  host: "db-\${STAGE}.internal"\n  port: "\${DB_PORT}"\n  user: { env: DB_USER }\n  database: \${DB_NAME}`),
      "spec.yaml",
      "Export",
      { env },
    ).source;
    assert.deepEqual([s.host, s.port, s.user, s.database], ["db-prod.internal", 35137, "reader", "telephony"]);
    assert.deepEqual(s.password, { env: "DB_PASSWORD" }, "the password's { env } is left for the node to resolve");
  });

  test("{ env: VAR } for the port", () => {
    const s = validateConfig(spec("  port: { env: DB_PORT }\n  user: u\n  database: d"), "spec.yaml", "Export", { env }).source;
    assert.equal(s.port, 35137);
  });

  test("an unset variable is one line naming the field and the variable", () => {
    assert.deepEqual(problems(`  host: "\${NOPE_HOST}"\n  user: u\n  database: d`), [
      "source.host: environment variable NOPE_HOST is not set",
    ]);
    assert.deepEqual(problems("  port: { env: NOPE_PORT }\n  user: u\n  database: d"), [
      "source.port: environment variable NOPE_PORT is not set",
    ]);
    assert.deepEqual(problems(`  user: "\${DB_USER}"\n  database: "\${NOPE_DB}"`), [
      "source.database: environment variable NOPE_DB is not set",
    ]);
  });

  test("a port outside 1..65535 after substitution names the field, the value and the variable", () => {
    for (const bad of ["0", "65536", "abc", "", "-1", "3306.5"]) {
      assert.deepEqual(
        problems(`  port: "\${DB_PORT}"\n  user: u\n  database: d`, { ...env, DB_PORT: bad }),
        [`source.port: expected a port 1..65535, got ${JSON.stringify(bad)} from DB_PORT`],
        bad,
      );
    }
  });

  test(`only \${NAME} is expanded: defaults, an unclosed reference or a bad name are refused`, () => {
    assert.match(
      problems(`  host: "\${DB_HOST:-localhost}"\n  user: u\n  database: d`)[0] as string,
      /^source\.host: .* is not a variable reference/,
    );
    assert.match(problems('  host: "${DB_HOST"\n  user: u\n  database: d')[0] as string, /^source\.host: /);
    assert.match(problems(`  host: "\${1X}"\n  user: u\n  database: d`)[0] as string, /^source\.host: /);
    // `$NAME` without braces is not an expansion: kept as written.
    const s = validateConfig(spec('  host: "$DB_HOST"\n  user: u\n  database: d'), "spec.yaml", "Export", { env }).source;
    assert.equal(s.host, "$DB_HOST");
  });

  test(`other fields are not expanded: a table or key column named \${...} stays as written`, () => {
    const s = validateConfig(spec(`  user: u\n  database: d\n  partitionKey: ["\${DB_NAME}"]`), "spec.yaml", "Export", { env }).source;
    assert.deepEqual([s.table, s.partitionKey], ["call_log", [`\${DB_NAME}`]]);
  });

  test("loadConfigFile resolves from process.env by default", async () => {
    const file = join(dir, "from-env.yaml");
    writeFileSync(
      file,
      `kind: Export\nname: calls\nsource: { host: "\${SF_T_HOST}", port: "\${SF_T_PORT}", user: u, database: d, table: t }\ndestination: { bucket: exports-bucket }\n`,
    );
    process.env.SF_T_HOST = "10.0.0.7";
    process.env.SF_T_PORT = "3307";
    try {
      const s = (await loadConfigFile(file, "Export")).source;
      assert.deepEqual([s.host, s.port], ["10.0.0.7", 3307]);
    } finally {
      delete process.env.SF_T_HOST;
      delete process.env.SF_T_PORT;
    }
  });

  test("export plan refuses an unset variable with exit 2 in one line, before any service is contacted", async () => {
    const file = join(dir, "unset.yaml");
    writeFileSync(
      file,
      `kind: Export\nname: calls\nsource: { host: "\${SF_T_UNSET_HOST}", user: u, database: d, table: t }\ndestination: { bucket: exports-bucket }\n`,
    );
    // Every endpoint points at a closed port: reaching any of them would fail differently (exit 3, or a timeout).
    const closed = "http://127.0.0.1:9";
    const r = await promisify(execFile)(process.execPath, [join(repoRoot, "bin", "spotferry.mjs"), "export", "plan", "--config", file], {
      env: { ...process.env, AWS_ENDPOINT_URL: closed, AWS_ENDPOINT_URL_DYNAMODB: closed, SF_T_UNSET_HOST: undefined },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `error: ${file}: source.host: environment variable SF_T_UNSET_HOST is not set\n`);
  });
});
