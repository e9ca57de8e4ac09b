import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../../lib/paths.ts";

/**
 * The directions of the tree (README, "Architecture"): lib/ and config/ are what both sides share and import neither
 * side; the agent never imports the controller; nothing that ships imports sim/ (dev only); and only the DynamoDB
 * access layer (lib/dynamo/) loads the DynamoDB client, so every store gets the same retries, conditions and paging.
 * Type-only imports are erased at run time and do not count.
 */
interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sources(dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith(".ts") ? [p] : [];
  });
}

function importsOf(file: string): Import[] {
  const text = readFileSync(join(repoRoot, file), "utf8");
  const out: Import[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gms)) {
    out.push({ from: file, to: m[3] as string, typeOnly: Boolean(m[2]) });
  }
  for (const m of text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) out.push({ from: file, to: m[1] as string, typeOnly: false });
  return out.map((i) => (i.to.startsWith(".") ? { ...i, to: relative(repoRoot, resolve(repoRoot, dirname(file), i.to)) } : i));
}

const all = ["agent", "bootstrap", "config", "controller", "lib", "sim"].flatMap(sources).flatMap(importsOf);
const breaking = (from: RegExp, to: RegExp) =>
  all.filter((i) => !i.typeOnly && from.test(i.from) && to.test(i.to)).map((i) => `${i.from} -> ${i.to}`);

test("lib/ and config/ import neither the agent, the controller, bootstrap nor sim/", () => {
  assert.deepEqual(breaking(/^(lib|config)\//, /^(agent|controller|bootstrap|sim)\//), []);
  assert.deepEqual(breaking(/^config\//, /^lib\/(?!errors|paths)/), [], "config/ is schemas only");
});

test("the agent never imports the controller, bootstrap or sim/", () => {
  assert.deepEqual(breaking(/^agent\//, /^(controller|bootstrap|sim)\//), []);
});

test("nothing that ships imports sim/ (the local stack, the rehearsal and their commands)", () => {
  assert.deepEqual(breaking(/^(agent|bootstrap|config|controller|lib)\//, /^sim\//), []);
});

test("only lib/dynamo/ loads the DynamoDB client", () => {
  assert.deepEqual(breaking(/^(agent|bootstrap|config|controller|lib\/(?!dynamo\/))/, /^@aws-sdk\/(client-dynamodb|lib-dynamodb)$/), []);
});

test("the rules see imports at all (a parser that finds nothing would pass every rule)", () => {
  assert.ok(all.some((i) => i.from === "agent/agent.ts" && i.to === "lib/jobs/job-store.ts"));
  assert.ok(all.some((i) => i.from === "lib/dynamo/client.ts" && i.to === "@aws-sdk/client-dynamodb" && !i.typeOnly));
  assert.ok(all.some((i) => i.from === "controller/cli/main.ts" && i.to === "controller/cli/config-commands.ts"));
});
