import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { s3Client } from "../../lib/aws/s3.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { deleteStateTable } from "../../lib/dynamo/table.ts";
import { cliBin } from "../../lib/paths.ts";
import { uniqueName } from "../helpers/env.ts";
import { dropBucket } from "../helpers/temp-bucket.ts";
import { tempDatabase } from "../helpers/temp-mysql.ts";

// Issue 17: `spotferry init --table db.table` writes a spec from information_schema that runs as is against the
// local stack: init on a fresh table, then `export run --local --config FILE`, then `export verify` finds every row.
// A table that is not there, or has no usable key, is one line naming it, exit 2.

const ROWS = 3000;
const dir = mkdtempSync(join(tmpdir(), "spotferry-init-"));
const stateTable = uniqueName("init");
const bucket = uniqueName("init").toLowerCase();
let db: Awaited<ReturnType<typeof tempDatabase>>;

before(async () => {
  db = await tempDatabase("init");
  // No primary key: init must find the unique index over NOT NULL columns and name it.
  await db.conn.query(
    `CREATE TABLE orders (region CHAR(2) NOT NULL, id BIGINT UNSIGNED NOT NULL, amount DECIMAL(10,2), note VARCHAR(40),
       created DATETIME(3) NOT NULL, UNIQUE KEY region_id (region, id))`,
  );
  const rows = Array.from({ length: ROWS }, (_, i) => [
    ["eu", "us", "ap"][i % 3],
    1000 + i,
    (i * 1.25).toFixed(2),
    i % 7 ? `n${i}` : null,
    "2026-01-02 03:04:05.678",
  ]);
  await db.conn.query("INSERT INTO orders VALUES ?", [rows]);
  await db.conn.query("CREATE TABLE heap (a INT, b VARCHAR(10))");
});
after(async () => {
  const ddb = dynamoClient();
  const s3 = s3Client();
  await Promise.all([deleteStateTable(ddb, stateTable).catch(() => {}), dropBucket(s3, bucket).catch(() => {})]);
  ddb.destroy();
  s3.destroy();
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [cliBin, ...args], {
    env: { ...process.env, SPOTFERRY_HOME: dir },
    timeout: 300_000,
    maxBuffer: 16 << 20,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe("spotferry init", () => {
  test("writes a spec that export run --local runs as is, and every row arrives", async () => {
    const file = join(dir, "export.yaml");
    const init = await cli([
      "init",
      "--table",
      `${db.name}.orders`,
      "--format",
      "ndjson",
      "-f",
      file,
      "--bucket",
      bucket,
      "--pool",
      "init",
    ]);
    assert.equal(init.code, 0, init.stderr);
    const text = readFileSync(file, "utf8");
    assert.match(text, /^ {2}host: "\$\{SPOTFERRY_MYSQL_HOST\}"$/m);
    assert.match(text, /^ {2}port: "\$\{SPOTFERRY_MYSQL_PORT\}"$/m);
    assert.match(text, /^ {2}partitionKey: \[region, id\]$/m, "names the key it partitions on");
    assert.match(text, /unique index region_id \(region, id\)/);
    for (const c of ["region", "id", "amount", "note", "created"])
      assert.match(text, new RegExp(`^#\\s+${c}\\s`, "m"), `column ${c} listed`);
    assert.doesNotMatch(text, /3306/);

    const again = await cli(["init", "--table", `${db.name}.orders`, "-f", file]);
    assert.equal(again.code, 2, again.stderr);
    assert.equal(again.stderr, `error: ${file} exists (pass --force to overwrite it)\n`);
    assert.equal(readFileSync(file, "utf8"), text, "the file is left as it was");

    const run = await cli([
      "export",
      "run",
      "--local",
      "--config",
      file,
      "--state-table",
      stateTable,
      "--create-bucket",
      "--workers",
      "1",
      "--json",
    ]);
    assert.equal(run.code, 0, run.stderr.slice(-3000));
    const result = JSON.parse(run.stdout) as { exportId: string; rows: number };
    assert.equal(result.rows, ROWS);
    const verify = await cli(["export", "verify", result.exportId, "--config", file, "--state-table", stateTable, "--json"]);
    assert.equal(verify.code, 0, verify.stderr);
    const report = JSON.parse(verify.stdout) as { rows: number; missing: number; duplicated: number; mismatched: unknown[] };
    assert.deepEqual([report.rows, report.missing, report.duplicated, report.mismatched.length], [ROWS, 0, 0, 0]);
  });

  test("stdout by default; a table without a usable key, or one that is not there, is one line, exit 2", async () => {
    const out = await cli(["init", "--table", `${db.name}.orders`]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^kind: Export$/m);
    const noKey = await cli(["init", "--table", `${db.name}.heap`]);
    assert.equal(noKey.code, 2, noKey.stderr);
    assert.match(noKey.stderr, new RegExp(`^error: --table ${db.name}\\.heap: .*no primary key or unique index[^\\n]*\\n$`));
    const missing = await cli(["init", "--table", `${db.name}.nope`]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.equal(missing.stderr, `error: --table ${db.name}.nope: no such table (or the user cannot see it)\n`);
  });

  test("a port variable that is not a port is refused before connecting", async () => {
    const file = join(dir, "bad-port.yaml");
    writeFileSync(file, readFileSync(join(dir, "export.yaml"), "utf8"));
    const r = await promisify(execFile)(
      process.execPath,
      [cliBin, "export", "run", "--local", "--config", file, "--state-table", stateTable],
      {
        env: { ...process.env, SPOTFERRY_HOME: dir, SPOTFERRY_MYSQL_PORT: "70000" },
        timeout: 300_000,
      },
    ).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `error: ${file}: source.port: expected a port 1..65535, got "70000" from SPOTFERRY_MYSQL_PORT\n`);
  });
});
