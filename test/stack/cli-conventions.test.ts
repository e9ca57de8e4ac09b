import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parse } from "yaml";
import { NOW, seedOncallWorld } from "../helpers/oncall-seed.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

// Issue 17 item 4 over a seeded state table (test/helpers/oncall-seed.ts): no escape sequence reaches a pipe unless
// FORCE_COLOR asks for one, NO_COLOR beats it; -o json is --json byte for byte, -o yaml the same data; -o wide adds
// columns; the default columns split cleanly for awk.

const root = join(import.meta.dirname, "..", "..");
let t: Awaited<ReturnType<typeof tempStateTable>>;
let env: Record<string, string | undefined>;

before(async () => {
  t = await tempStateTable("cli-conventions");
  await seedOncallWorld(t.client, t.tableName);
  // Colour settings of whoever runs the tests must not leak in.
  env = { ...process.env, SPOTFERRY_STATE_TABLE: t.tableName, SPOTFERRY_NOW: NOW, NO_COLOR: undefined, FORCE_COLOR: undefined };
});
after(async () => t?.drop());

/** The CLI with stdout and stderr piped (never a terminal). */
function run(args: string[], extra: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const childEnv = Object.fromEntries(Object.entries({ ...env, ...extra }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, "bin", "spotferry.mjs"), ...args], { cwd: root, env: childEnv }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test("status in a pipe: no escape sequences; FORCE_COLOR colours the levels; NO_COLOR beats FORCE_COLOR", async () => {
  const piped = await run(["status"]);
  assert.equal(piped.code, 4, piped.stderr);
  assert.match(piped.stdout, /CRITICAL/);
  assert.ok(!piped.stdout.includes("\x1b") && !piped.stderr.includes("\x1b"), "no ANSI in a pipe");
  const forced = await run(["status"], { FORCE_COLOR: "1" });
  assert.ok(forced.stdout.includes("\x1b[31mCRITICAL\x1b[0m"), "FORCE_COLOR=1 colours even in a pipe");
  const noColor = await run(["status"], { FORCE_COLOR: "1", NO_COLOR: "1" });
  assert.ok(!noColor.stdout.includes("\x1b"), "NO_COLOR wins");
  assert.equal(noColor.stdout, piped.stdout);
});

test("-o json is --json byte for byte; -o yaml is the same data; -o wide adds columns", async () => {
  for (const args of [["exports"], ["nodes", "--all"], ["export", "show", "calls-2026"], ["partition", "show", "calls-2026", "8"]]) {
    const [json, o, yaml] = await Promise.all([run([...args, "--json"]), run([...args, "-o", "json"]), run([...args, "-o", "yaml"])]);
    assert.equal(o.stdout, json.stdout, args.join(" "));
    assert.deepEqual(parse(yaml.stdout), JSON.parse(json.stdout), args.join(" "));
  }
  const [plain, wide] = await Promise.all([run(["nodes"]), run(["nodes", "-o", "wide"])]);
  assert.doesNotMatch(plain.stdout.split("\n")[0] as string, /LAUNCHED/);
  assert.match(wide.stdout.split("\n")[0] as string, /\bGEN\b.*\bLAUNCHED\b.*\bCOST\b/);
});

test("the default columns: no box drawing, one row per line, the same field count on every row (awk)", async () => {
  const r = await run(["exports"]);
  assert.doesNotMatch(r.stdout, /[│┌└├─]/);
  const lines = r.stdout.trimEnd().split("\n");
  const counts = new Set(lines.map((l) => l.trim().split(/\s{1,}/).length));
  assert.deepEqual([...counts], [12], r.stdout);
  assert.match(r.stdout, /calls-2026\s+RUNNING\s+54\.2%\s+6,500,000\s+12,000,000\s/);
});
