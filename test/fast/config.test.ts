import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { ConfigError, loadConfigFile, parseConfigText, validateConfig } from "../../config/load.ts";
import { repoRoot } from "../../sim/stack/stack.ts";

const examples = join(repoRoot, "config", "examples");
const dir = mkdtempSync(join(tmpdir(), "spotferry-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const base = parseConfigText(
  `kind: Export
name: calls
source: { user: reader, password: { env: DB_PASSWORD }, database: telephony, table: call_log }
destination: { bucket: exports-bucket, prefix: calls/ }
`,
  "base",
) as Record<string, unknown>;

/** The problems reported for the base export spec with one change applied. */
function problems(change: (doc: Record<string, any>) => void): string[] {
  const doc = structuredClone(base) as Record<string, any>;
  change(doc);
  try {
    validateConfig(doc, "spec.yaml");
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail("expected the spec to be rejected");
}

describe("config validation", () => {
  test("every shipped example is valid, with defaults filled in", async () => {
    const exp = await loadConfigFile(join(examples, "call-log-export.yaml"), "Export");
    assert.equal(exp.destination.chunk.maxBytes, 128 * 1024 * 1024);
    assert.equal(exp.retry.backoff, 30);
    assert.equal(exp.source.timezone, "Z");
    const pool = await loadConfigFile(join(examples, "spot-pool.yaml"), "Pool");
    assert.equal(pool.maxNodeAge, 12 * 3600);
    assert.deepEqual(pool.instanceTypes[3], { type: "m6i.xlarge", weight: 2 });
    await loadConfigFile(join(examples, "controller.yaml"));
    await loadConfigFile(join(examples, "agent.yaml"));
    const local = { SPOTFERRY_MYSQL_HOST: "127.0.0.1", SPOTFERRY_MYSQL_PORT: "35137", SPOTFERRY_MYSQL_USER: "spotferry" };
    const inc = await loadConfigFile(join(examples, "call-log-incremental.yaml"), "Export", { env: local });
    assert.deepEqual([inc.source.host, inc.source.port, inc.source.user], ["127.0.0.1", 35137, "spotferry"]);
    assert.deepEqual([inc.incremental?.mode, inc.incremental?.every, inc.incremental?.safetyLag], ["updated-at", 300, 30]);
  });

  test("an unknown enum value names the path, the choices and the value", () => {
    assert.deepEqual(
      problems((d) => (d.destination.format = "xls")),
      ['destination.format: expected one of parquet|ndjson|csv, got "xls"'],
    );
  });

  test("a missing required field", () => {
    assert.deepEqual(
      problems((d) => delete d.source.table),
      ["source.table: is required"],
    );
  });

  test("a wrong type", () => {
    assert.deepEqual(
      problems((d) => (d.source.port = "3306")),
      ['source.port: expected number, got "3306"'],
    );
  });

  test("a misspelt field is reported, not ignored", () => {
    assert.deepEqual(
      problems((d) => (d.destination.formt = "csv")),
      ["destination.formt: unknown field (check its spelling)"],
    );
  });

  test("an inline password is refused", () => {
    const p = problems((d) => (d.source.password = "hunter2"));
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^source\.password: .*inline secrets are not allowed/);
  });

  test("a bad duration, size and bucket name", () => {
    assert.deepEqual(
      problems((d) => {
        d.retry = { backoff: "soon" };
        d.destination.chunk = { maxBytes: "lots" };
        d.destination.bucket = "Bad_Bucket";
      }),
      [
        'destination.bucket: must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens), got "Bad_Bucket"',
        'destination.chunk.maxBytes: expected a size like "64MiB" or "1GB", got "lots"',
        'retry.backoff: expected a duration like "90s", "15m" or "6h", got "soon"',
      ],
    );
  });

  test("compression must suit the format", () => {
    assert.deepEqual(
      problems((d) => Object.assign(d.destination, { format: "csv", compression: "snappy" })),
      ['destination.compression: expected one of gzip|zstd|none for format csv, got "snappy"'],
    );
    const doc = structuredClone(base) as Record<string, any>;
    Object.assign(doc.destination, { format: "ndjson", compression: "zstd" });
    assert.doesNotThrow(() => validateConfig(doc, "spec.yaml"), "zstd suits NDJSON and CSV");
  });

  test("pool capacity bounds are checked against each other", () => {
    const pool = parseConfigText(
      "kind: Pool\nname: p\ninstanceTypes: [m5.large]\nsubnets: [subnet-1]\nimageId: ami-1\ncapacity: { min: 5, max: 2 }\n",
      "pool",
    );
    assert.throws(
      () => validateConfig(pool, "pool.yaml"),
      (e: ConfigError) => e.problems.includes("capacity.min: min must not exceed max"),
    );
  });

  test("integers beyond 2^53 are kept exact as strings", () => {
    const doc = parseConfigText("v: 18446744073709551615\nsmall: 42\n", "x") as { v: unknown; small: unknown };
    assert.equal(doc.v, "18446744073709551615");
    assert.equal(doc.small, 42);
  });

  test("an unknown kind and malformed YAML", () => {
    assert.throws(
      () => validateConfig({ kind: "Cluster" }, "c.yaml"),
      /kind: expected one of Export\|Pool\|ControllerSettings\|AgentSettings, got "Cluster"/,
    );
    assert.throws(() => parseConfigText("a: [1, 2\n", "broken.yaml"), /broken\.yaml: line \d+/);
  });
});

describe("spotferry config check", () => {
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, [join(repoRoot, "bin", "spotferry.mjs"), "config", "check", ...args], { cwd: repoRoot });

  test("exits 0 for valid files", async () => {
    const { stdout } = await cli(join(examples, "call-log-export.yaml"), join(examples, "spot-pool.yaml"));
    assert.match(stdout, /call-log-export\.yaml: valid Export/);
    assert.match(stdout, /spot-pool\.yaml: valid Pool/);
  });

  test("exits 2 with one line per problem and no stack trace", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      "kind: Export\nname: Bad Name\nsource: { user: u, database: d, table: t }\ndestination: { bucket: ok-bucket, format: xls }\n",
    );
    await assert.rejects(cli(file), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /name: must be lowercase letters, digits and hyphens/);
      assert.match(err.stderr, /destination\.format: expected one of parquet\|ndjson\|csv, got "xls"/);
      assert.doesNotMatch(err.stderr, /\n\s+at /, "no stack trace");
      return true;
    });
  });

  test("a missing file is a clear error", async () => {
    await assert.rejects(cli(join(dir, "nope.yaml")), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /nope\.yaml: file not found/);
      return true;
    });
  });
});
