import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { durationFlag, exportIdFlag, intFlag, stateTableFlag } from "../../lib/cli/flags.ts";
import { UserError } from "../../lib/errors.ts";
import { cliBin } from "../../lib/paths.ts";

/**
 * Issue 14: every numeric and id-like flag is parsed by one helper that names the flag, and the command refuses it
 * (one line, exit 2) before it reaches any service. The AWS endpoints point at a closed port, so a command that
 * touched DynamoDB or S3 first would fail differently (exit 1, an SDK error).
 */

const dir = mkdtempSync(join(tmpdir(), "spotferry-cli-input-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const spec = join(dir, "export.yaml");
writeFileSync(
  spec,
  "kind: Export\nname: calls\nsource: { user: r, database: d, table: t }\ndestination: { bucket: exports-bucket }\n" +
    "incremental: { mode: id, column: id, every: 5m }\n",
);

const closed = "http://127.0.0.1:9";
const env = {
  ...process.env,
  AWS_ENDPOINT_URL: closed,
  AWS_ENDPOINT_URL_DYNAMODB: closed,
  AWS_ENDPOINT_URL_S3: closed,
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "x",
  AWS_SECRET_ACCESS_KEY: "x",
  AWS_MAX_ATTEMPTS: "1",
  SPOTFERRY_STATE_TABLE: "",
};

async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  return promisify(execFile)(process.execPath, [cliBin, ...args], { env, timeout: 60_000 }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
}

function refuses(f: () => unknown, message: RegExp): void {
  assert.throws(f, (e: unknown) => e instanceof UserError && e.exitCode === 2 && message.test(e.message));
}

describe("flag parsing", () => {
  test("whole numbers: junk, fractions, out-of-range and empty are refused naming the flag", () => {
    assert.equal(intFlag("--workers", "4", { min: 1, max: 64 }), 4);
    for (const bad of ["abc", "4x", "4.5", "", "0", "65", "-1", "1e3", "NaN", "Infinity"])
      refuses(() => intFlag("--workers", bad, { min: 1, max: 64 }), /^--workers: expected a whole number from 1 to 64, got /);
  });

  test("durations: seconds or with a unit, positive and bounded", () => {
    assert.equal(durationFlag("--lease", "15", { min: 1, max: 86_400 }), 15);
    assert.equal(durationFlag("--lease", "2m", { min: 1, max: 86_400 }), 120);
    for (const bad of ["abc", "0", "0s", "-5", "NaN", "500ms", "2d", "15 parsecs"])
      refuses(() => durationFlag("--lease", bad, { min: 1, max: 86_400 }), /^--lease: expected a duration between 1s and 1d/);
  });

  test("export ids and table names", () => {
    assert.equal(exportIdFlag("--id", "calls-1a2b3c4d"), "calls-1a2b3c4d");
    for (const bad of ["../../x'; DROP", "a/b", "..", "a..b", "", ".hidden", "x".repeat(129), "a b", "a\nb"])
      refuses(() => exportIdFlag("--id", bad), /^--id: must be 1-128 of/);
    refuses(() => stateTableFlag("no/slashes"), /^--state-table: expected a DynamoDB table name/);
    assert.equal(stateTableFlag("fresh"), "fresh");
  });
});

describe("commands refuse bad flags before touching a service", () => {
  const cases: [string, string[], RegExp][] = [
    ["export run --lease abc", ["export", "run", "--local", "--config", spec, "--lease", "abc"], /^error: --lease: /],
    ["export run --lease 0", ["export", "run", "--local", "--config", spec, "--lease", "0"], /^error: --lease: /],
    ["export run --workers 4x", ["export", "run", "--local", "--config", spec, "--workers", "4x"], /^error: --workers: /],
    ["export run --id hostile", ["export", "run", "--local", "--config", spec, "--id", "../../x'; DROP"], /^error: --id: /],
    ["export run --state-table bad", ["export", "run", "--local", "--config", spec, "--state-table", "a"], /^error: --state-table: /],
    ["export plan --id hostile", ["export", "plan", "--config", spec, "--id", "../x"], /^error: --id: /],
    ["export show --limit -1", ["export", "show", "e-1", "--limit", "-1"], /^error: --limit: /],
    ["schedule run --lease abc", ["schedule", "run", "--config", spec, "--local", "--lease", "abc"], /^error: --lease: /],
    ["schedule status --limit x", ["schedule", "status", "--name", "calls", "--limit", "x"], /^error: --limit: /],
    ["scale --min abc", ["scale", "p", "--min", "abc", "--yes"], /^error: --min: /],
    ["exports --limit 0", ["exports", "--limit", "0"], /^error: --limit: /],
    ["status --interval 0", ["status", "--watch", "--interval", "0"], /^error: --interval: /],
    ["partition show e 1.5", ["partition", "show", "e-1", "1.5"], /^error: partition: /],
  ];
  for (const [name, args, message] of cases) {
    test(name, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    });
  }
});
