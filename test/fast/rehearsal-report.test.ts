import assert from "node:assert/strict";
import { test } from "node:test";
import type { RoleCheck } from "../../sim/rehearsal/iam-check.ts";
import { rehearsalFailures } from "../../sim/rehearsal/report.ts";

/** Issue 14: the rehearsal's verdict. An on-call check that failed makes it FAILED (and says which one). */

const role = (name: string): RoleCheck =>
  ({ role: name, calls: 10, apis: [], actions: [], denied: [], unused: [], simDenials: [], truncated: false }) as unknown as RoleCheck;

const passing = () => ({
  verify: { exportId: "e", mode: "content" as const, partitions: 2, rows: 100, missing: 0, duplicated: 0, mismatched: [] },
  rowsPlanned: 100,
  iam: { controller: role("c"), node: role("n") },
  nodeEnv: { inspected: 2, leaks: [] },
  oncall: [
    { command: "spotferry status", exit: 0, ok: true, detail: "shows e" },
    { command: "spotferry logs", exit: 0, ok: true, detail: "read" },
  ],
});

test("a rehearsal whose checks all hold passes", () => {
  assert.deepEqual(rehearsalFailures(passing()), []);
});

test("a failed on-call check fails the rehearsal, named", () => {
  const input = passing();
  input.oncall[1] = { command: "spotferry logs", exit: -1, ok: false, detail: "no node was up to read the log of" };
  assert.deepEqual(rehearsalFailures(input), ["on-call check failed: spotferry logs"]);
});

test("verify problems and a row shortfall are named too", () => {
  const input = passing();
  input.verify = { ...input.verify, rows: 99, missing: 1 };
  assert.deepEqual(rehearsalFailures(input), ["verify found problems", "verify counted 99 rows of 100 planned"]);
});
