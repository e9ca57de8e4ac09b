import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { ConfigError, parseConfigText, validateConfig } from "../../config/load.ts";
import { cliBin } from "../../lib/paths.ts";

/**
 * Issue 14: every number of every config kind is bounded (zero, negative, NaN, infinite and absurd values are
 * refused in one line at their path), prefixes are valid S3 key parts, and errors name the file and the path
 * without echoing what looks like a secret.
 */

const dir = mkdtempSync(join(tmpdir(), "spotferry-bounds-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const docs: Record<string, Record<string, unknown>> = {
  Export: {
    kind: "Export",
    name: "calls",
    source: { user: "reader", database: "telephony", table: "call_log" },
    destination: { bucket: "exports-bucket" },
  },
  Pool: { kind: "Pool", name: "p", instanceTypes: ["m6i.large"], subnets: ["subnet-1"], imageId: "ami-1", capacity: { max: 4 } },
  ControllerSettings: { kind: "ControllerSettings" },
  AgentSettings: { kind: "AgentSettings", pool: "p" },
};

function setPath(doc: Record<string, any>, path: string, value: unknown): void {
  const parts = path.split(".");
  let at = doc;
  for (const p of parts.slice(0, -1)) at = at[p] ??= {};
  at[parts.at(-1)!] = value;
}

/** The one problem reported for `kind`'s base document with `path` set to `value` (fails if it is accepted). */
function refusal(kind: string, path: string, value: unknown): string {
  const doc = structuredClone(docs[kind]!) as Record<string, any>;
  setPath(doc, path, value);
  try {
    validateConfig(doc, "spec.yaml");
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.problems.length, 1, err.message);
    return err.problems[0]!;
  }
  assert.fail(`${kind} ${path}: ${JSON.stringify(value)} was accepted`);
}

/** [kind, path, values that must be refused] for every number, size and duration of every kind. */
const BOUNDED: [string, string, unknown[]][] = [
  ["Export", "destination.chunk.maxBytes", ["0MiB", 0, -1, "-5MiB", Number.NaN, "10TiB", "99999GiB", 1e15, "1.5"]],
  ["Export", "destination.chunk.maxRows", [0, -1, Number.NaN, 1e12, 1.5]],
  ["Export", "partitioning.targetRows", [0, -5, 1e15]],
  ["Export", "partitioning.maxPartitions", [0, 1e9]],
  ["Export", "retry.maxAttempts", [0, 1000]],
  ["Export", "retry.backoff", [-1, "10000d", Number.POSITIVE_INFINITY, "soon"]],
  ["Export", "source.maxConnections", [0, 1000]],
  ["Export", "source.maxRowsPerSecond", [0, -3, 1e12]],
  ["Export", "source.port", [0, 70000]],
  ["Export", "incremental", [{ mode: "id", column: "id", every: "0s" }]],
  ["Export", "incremental", [{ mode: "id", column: "id", every: "400d" }]],
  ["Export", "incremental", [{ mode: "updated-at", column: "u", every: "5m", safetyLag: "-1s" }]],
  ["Pool", "capacity.max", [0, 1e7, 2.5]],
  ["Pool", "capacity.partitionsPerNode", [0, 1000]],
  ["Pool", "bootTimeout", [0, "0s", "30d"]],
  ["Pool", "drainTimeout", [0, "1000d"]],
  ["Pool", "maxNodeAge", [0, "10y", "5000d"]],
  ["Pool", "onDemandFallbackAfter", [0, "365d"]],
  ["Pool", "maxSpotPrice", [0, -1, 1e6]],
  ["Pool", "disruptionBudget.maxUnavailable", [0, "0%", "250%", 1e9]],
  ["ControllerSettings", "leaderLease", [0, "0s", -5, "2d", Number.NaN]],
  ["ControllerSettings", "partitionLease", [0, "0ms", "90d"]],
  ["ControllerSettings", "heartbeatTimeout", [0]],
  ["ControllerSettings", "orphanGrace", [0]],
  ["ControllerSettings", "capacityErrorMemory", [0]],
  ["ControllerSettings", "clockSkewMargin", [-1, "2h"]],
  ["ControllerSettings", "bundleUrlLifetime", [0, "8d"]],
  ["ControllerSettings", "splitMinRows", [0, 1e15]],
  ["ControllerSettings", "nodeAgent.partitionLease", [0]],
  ["ControllerSettings", "nodeAgent.heartbeatInterval", [0, "2h"]],
  ["AgentSettings", "partitionLease", [0, "0s", "abc"]],
  ["AgentSettings", "heartbeatInterval", [0, -1]],
  ["AgentSettings", "idleExitAfter", [0, "100d"]],
  ["AgentSettings", "imdsPollInterval", [0]],
  ["AgentSettings", "concurrency", [0, 65]],
];

describe("config: every number is bounded", () => {
  for (const [kind, path, values] of BOUNDED) {
    test(`${kind} ${path}: ${values.map((v) => JSON.stringify(v) ?? String(v)).join(", ")} refused at its path`, () => {
      for (const v of values) {
        const line = refusal(kind, path, v);
        assert.ok(line.startsWith(path), `${JSON.stringify(v)}: ${line}`);
      }
    });
  }

  test("the issue's case: 0MiB is refused with one line naming the range", () => {
    assert.equal(
      refusal("Export", "destination.chunk.maxBytes", "0MiB"),
      'destination.chunk.maxBytes: expected a size between 1KiB and 5GiB, got "0MiB"',
    );
  });

  test("sane values are kept, and delays that may be zero still may", () => {
    const doc = structuredClone(docs.Export!) as Record<string, any>;
    doc.destination.chunk = { maxBytes: "64MiB", maxRows: 1 };
    doc.retry = { backoff: 0 };
    doc.incremental = { mode: "updated-at", column: "u", every: "1s", safetyLag: "0s" };
    const spec = validateConfig(doc, "spec.yaml", "Export");
    assert.deepEqual([spec.destination.chunk.maxBytes, spec.retry.backoff, spec.incremental?.safetyLag], [64 * 1024 ** 2, 0, 0]);
  });
});

describe("config: prefixes are valid S3 key parts", () => {
  const refused: [string, RegExp][] = [
    ["../../etc/", /"\." or "\.\." segment/],
    ["a/../b/", /"\." or "\.\." segment/],
    ["./x/", /"\." or "\.\." segment/],
    ["/abs/", /must not start with \//],
    ["a\u0000b/", /control characters/],
    ["a\r\nb/", /control characters/],
    ["tab\there/", /control characters/],
    ["a//b/", /empty segment/],
    ["x".repeat(2000), /at most 512 bytes/],
    ["é".repeat(300), /at most 512 bytes/],
  ];
  for (const [prefix, reason] of refused) {
    test(`${JSON.stringify(prefix.slice(0, 20))}${prefix.length > 20 ? "..." : ""} is refused`, () => {
      const line = refusal("Export", "destination.prefix", prefix);
      assert.match(line, /^destination\.prefix: /);
      assert.match(line, reason);
    });
  }

  test("ordinary prefixes pass", () => {
    for (const prefix of ["", "calls/", "a/b/c", "exports/2026-12-01/", "dots.in.names/ok/"]) {
      const doc = structuredClone(docs.Export!) as Record<string, any>;
      doc.destination.prefix = prefix;
      assert.equal(validateConfig(doc, "spec.yaml", "Export").destination.prefix, prefix);
    }
  });
});

describe("config: errors name the file and the path", () => {
  test("filter[0].value: {a: 1} is reported at source.filter[0].value, not at the top level", () => {
    assert.equal(
      refusal("Export", "source.filter", [{ column: "id", op: "=", value: { a: 1 } }]),
      "source.filter[0].value: expected a string, a number, true/false or null",
    );
    assert.match(refusal("Export", "source.filter", [{ column: "id", op: "in", values: [1, [2]] }]), /^source\.filter\[0\]\.values\[1\]: /);
    assert.match(refusal("Export", "retry.backoff", Number.POSITIVE_INFINITY), /^retry\.backoff: /);
  });

  test("a password written where its variable's name goes is not echoed", () => {
    const line = refusal("Export", "source.password", { env: "hunter2!x" });
    assert.equal(line, "source.password.env: is not an environment variable name");
    assert.ok(!line.includes("hunter2"));
  });

  test("a YAML alias bomb is refused as a ConfigError naming the file", () => {
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (const [i, name] of ["b", "c", "d", "e", "f"].entries()) {
      const prev = String.fromCharCode("a".charCodeAt(0) + i);
      bomb.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    }
    assert.throws(
      () => parseConfigText(bomb.join("\n"), "bomb.yaml"),
      (err: unknown) => err instanceof ConfigError && /^bomb\.yaml: cannot be read: Excessive alias count/.test(err.message),
    );
  });

  test("`config check` refuses 0MiB in one line, exit 2", async () => {
    const file = join(dir, "zero.yaml");
    writeFileSync(
      file,
      "kind: Export\nname: calls\nsource: { user: r, database: d, table: t }\ndestination: { bucket: exports-bucket, chunk: { maxBytes: 0MiB } }\n",
    );
    const err = await promisify(execFile)(process.execPath, [cliBin, "config", "check", file]).then(
      () => assert.fail("config check accepted 0MiB"),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(err.code, 2);
    assert.equal(err.stderr, `error: ${file}: destination.chunk.maxBytes: expected a size between 1KiB and 5GiB, got "0MiB"\n`);
  });
});
