import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { HeadBucketCommand } from "@aws-sdk/client-s3";
import { s3Client } from "../../lib/aws/s3.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { deleteStateTable } from "../../lib/dynamo/table.ts";
import { cliBin } from "../../lib/paths.ts";
import { stackSource, uniqueName } from "../helpers/env.ts";
import { dropBucket } from "../helpers/temp-bucket.ts";
import { tempDatabase } from "../helpers/temp-mysql.ts";

/**
 * Issue 14: a command whose input is bad creates nothing. Each writing command (export plan, export run, schedule
 * run, pool apply, controller run) gets bad input (a missing file, a bad value, a bad flag, a source table that is
 * not there, a bucket that is not there) and must exit with one line, leaving no state table and no bucket behind.
 */

const ddb = dynamoClient();
const s3 = s3Client();
const dir = mkdtempSync(join(tmpdir(), "spotferry-cli-input-"));
let db: Awaited<ReturnType<typeof tempDatabase>>;
const made: { tables: string[]; buckets: string[] } = { tables: [], buckets: [] };

before(async () => {
  db = await tempDatabase("cliinput");
  await db.conn.query("CREATE TABLE t (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(10))");
  await db.conn.query("INSERT INTO t VALUES (1, 'a'), (2, 'b')");
});
after(async () => {
  // Whatever a failing (pre-fix) command created is removed, so a red run leaves nothing either.
  await Promise.all([
    ...made.tables.map((t) => deleteStateTable(ddb, t).catch(() => {})),
    ...made.buckets.map((b) => dropBucket(s3, b).catch(() => {})),
  ]);
  await db.drop();
  ddb.destroy();
  s3.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const names = () => {
  const tableName = uniqueName("cli-in");
  const bucket = uniqueName("cli-in").toLowerCase();
  made.tables.push(tableName);
  made.buckets.push(bucket);
  return { tableName, bucket };
};

function file(name: string, doc: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof doc === "string" ? doc : JSON.stringify(doc));
  return path;
}

function exportSpec(bucket: string, change: (d: Record<string, any>) => void = () => {}): Record<string, any> {
  const doc: Record<string, any> = {
    kind: "Export",
    name: "cli-input",
    pool: "p",
    source: stackSource(db.name, "t"),
    destination: { bucket, format: "ndjson" },
    incremental: { mode: "id", column: "id", every: "5m" },
  };
  change(doc);
  return doc;
}

async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  return promisify(execFile)(process.execPath, [cliBin, ...args], { env: process.env, timeout: 120_000 }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
}

async function tableExists(tableName: string): Promise<boolean> {
  return ddb.send(new DescribeTableCommand({ TableName: tableName })).then(
    () => true,
    (e: Error) => (e.name === "ResourceNotFoundException" ? false : Promise.reject(e)),
  );
}

async function bucketExists(bucket: string): Promise<boolean> {
  return s3.send(new HeadBucketCommand({ Bucket: bucket })).then(
    () => true,
    (e: { $metadata?: { httpStatusCode?: number } }) => (e.$metadata?.httpStatusCode === 404 ? false : Promise.reject(e)),
  );
}

/** Runs the command and checks: refused with `code`, one line matching `message`, no table and no bucket. */
async function refusedCleanly(o: { args: string[]; tableName: string; bucket: string; message: RegExp; code?: number }) {
  const r = await cli(o.args);
  assert.equal(r.code, o.code ?? 2, r.stderr);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, o.message);
  assert.equal(await tableExists(o.tableName), false, `state table ${o.tableName} was created`);
  assert.equal(await bucketExists(o.bucket), false, `bucket ${o.bucket} was created`);
}

describe("bad input creates nothing", () => {
  test("export run --config /nonexistent.yaml --state-table fresh", async () => {
    const { tableName, bucket } = names();
    await refusedCleanly({
      args: ["export", "run", "--local", "--config", "/nonexistent.yaml", "--state-table", tableName, "--create-bucket"],
      tableName,
      bucket,
      message: /^error: \/nonexistent\.yaml: file not found$/m,
    });
  });

  test("export run with a bad flag or a bad value", async () => {
    const { tableName, bucket } = names();
    const good = file("good-run.json", exportSpec(bucket));
    const base = ["export", "run", "--local", "--config", good, "--state-table", tableName, "--create-bucket"];
    await refusedCleanly({ args: [...base, "--lease", "abc"], tableName, bucket, message: /^error: --lease: / });
    await refusedCleanly({ args: [...base, "--lease", "0"], tableName, bucket, message: /^error: --lease: / });
    await refusedCleanly({ args: [...base, "--id", "../../x'; DROP"], tableName, bucket, message: /^error: --id: / });
    const zero = file(
      "zero-run.json",
      exportSpec(bucket, (d) => (d.destination.chunk = { maxBytes: "0MiB" })),
    );
    await refusedCleanly({
      args: ["export", "run", "--local", "--config", zero, "--state-table", tableName, "--create-bucket"],
      tableName,
      bucket,
      message: /destination\.chunk\.maxBytes: expected a size between/,
    });
  });

  test("export run and export plan on a source table that is not there: refused while planning", async () => {
    const { tableName, bucket } = names();
    const missing = file(
      "missing-table.json",
      exportSpec(bucket, (d) => (d.source.table = "no_such_table")),
    );
    for (const args of [
      ["export", "run", "--local", "--config", missing, "--state-table", tableName, "--create-bucket"],
      ["export", "plan", "--config", missing, "--state-table", tableName],
    ]) {
      const r = await cli(args);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no_such_table not found/);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.equal(await tableExists(tableName), false, `${args[1]}: state table ${tableName} was created`);
      assert.equal(await bucketExists(bucket), false, `${args[1]}: bucket ${bucket} was created`);
    }
  });

  test("export plan with a bad value, a hostile prefix or a bad --id", async () => {
    const { tableName, bucket } = names();
    const prefix = file(
      "prefix.json",
      exportSpec(bucket, (d) => (d.destination.prefix = "../../etc/")),
    );
    await refusedCleanly({
      args: ["export", "plan", "--config", prefix, "--state-table", tableName],
      tableName,
      bucket,
      message: /destination\.prefix: must not contain a "\." or "\.\." segment/,
    });
    const good = file("good-plan.json", exportSpec(bucket));
    await refusedCleanly({
      args: ["export", "plan", "--config", good, "--state-table", tableName, "--id", "a/../../b"],
      tableName,
      bucket,
      message: /^error: --id: /,
    });
  });

  test("schedule run: a missing bucket is refused before the state table is created", async () => {
    const { tableName, bucket } = names();
    const good = file("good-sched.json", exportSpec(bucket));
    await refusedCleanly({
      args: ["schedule", "run", "--once", "--config", good, "--state-table", tableName],
      tableName,
      bucket,
      message: new RegExp(`destination bucket ${bucket} does not exist`),
    });
    await refusedCleanly({
      args: ["schedule", "run", "--once", "--local", "--lease", "abc", "--config", good, "--state-table", tableName, "--create-bucket"],
      tableName,
      bucket,
      message: /^error: --lease: /,
    });
  });

  test("pool apply with a bad pool file", async () => {
    const { tableName, bucket } = names();
    const pool = file(
      "pool.yaml",
      "kind: Pool\nname: p\ninstanceTypes: [m6i.large]\nsubnets: [subnet-1]\nimageId: ami-1\ncapacity: { max: 0 }\n",
    );
    await refusedCleanly({ args: ["pool", "apply", pool, "--state-table", tableName], tableName, bucket, message: /capacity\.max: / });
  });

  test("controller run with settings, --state-table or --user-data that cannot be used", async () => {
    const { tableName, bucket } = names();
    const settings = file("settings.yaml", "kind: ControllerSettings\npartitionLease: 0s\n");
    await refusedCleanly({
      args: ["controller", "run", "--once", "--config", settings, "--state-table", tableName],
      tableName,
      bucket,
      message: /partitionLease: expected a duration between 1s and 1d/,
    });
    await refusedCleanly({
      args: ["controller", "run", "--once", "--user-data", join(dir, "no-such-script.sh"), "--state-table", tableName],
      tableName,
      bucket,
      message: /^error: --user-data .*: file not found$/m,
    });
    await refusedCleanly({
      args: ["controller", "run", "--once", "--state-table", "x"],
      tableName,
      bucket,
      message: /^error: --state-table: /,
    });
  });
});
