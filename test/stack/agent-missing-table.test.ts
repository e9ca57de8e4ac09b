import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { cli } from "../helpers/snapshot.ts";

// Issue 14: an agent pointed at a state table that does not exist exited 0 as "idle". A wrong --state-table (or
// DynamoDB endpoint) is a usage error: one line naming the table, exit 2, and the agent never creates the table.

test("`agent run` on a missing state table exits 2 with one line naming the table", async () => {
  const table = `missing-${randomBytes(4).toString("hex")}`;
  const r = await cli(["agent", "run", "--state-table", table, "--pool", "p", "--node-id", "n1", "--no-imds", "--idle-exit", "1s"], {});
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? "", new RegExp(`^error: state table ${table} does not exist`));
  assert.doesNotMatch(r.stderr, /idle/);
});
