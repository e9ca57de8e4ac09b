import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../../lib/paths.ts";

interface Metafile {
  outputs: Record<string, { imports: { path: string }[]; inputs: Record<string, unknown> }>;
}

/** Every source file an output of the build can load, static or dynamic imports followed to the end. */
function reachableSources(meta: Metafile, entry: string): Set<string> {
  const seen = new Set<string>();
  const sources = new Set<string>();
  const visit = (out: string) => {
    if (seen.has(out) || !meta.outputs[out]) return;
    seen.add(out);
    for (const input of Object.keys(meta.outputs[out].inputs)) sources.add(input);
    for (const i of meta.outputs[out].imports) visit(i.path);
  };
  visit(entry);
  return sources;
}

// `npm test` builds dist/ before any test runs; the metafile is the bundler's own account of what each output holds.
const meta = JSON.parse(readFileSync(join(repoRoot, "dist", "meta.json"), "utf8")) as Metafile;
const outputOf = (name: string) => Object.keys(meta.outputs).find((o) => o.endsWith(`/${name}`)) ?? assert.fail(`no ${name}`);

test("the production CLI can load nothing of the local rehearsal (sim/: the stack, the demo, the sim commands)", () => {
  const sources = [...reachableSources(meta, outputOf("spotferry.mjs"))].filter((s) => !s.startsWith("node_modules/"));
  assert.ok(sources.includes("controller/cli/main.ts"));
  const dev = sources.filter((s) => /^sim\//.test(s));
  assert.deepEqual(dev, []);
});

test("the checkout's CLI adds the rehearsal's commands on top of the production ones", () => {
  const sources = reachableSources(meta, outputOf("spotferry-dev.mjs"));
  for (const s of ["controller/cli/main.ts", "sim/cli/main.ts", "sim/stack/stack.ts", "sim/rehearsal/rehearsal.ts"])
    assert.ok(sources.has(s), s);
});
