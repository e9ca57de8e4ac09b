#!/usr/bin/env node
// `npm run lint`: Biome and the type checker over the files git tracks, so a scratch file in the working tree can
// neither fail the lint nor hide in it. Outside a git checkout (an unpacked tarball) every file is checked.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureRuntime, root } from "./common.mjs";

ensureRuntime();
const bin = (name) => join(root, "node_modules", ".bin", name);
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: "inherit" }).status ?? 1;

const listed = spawnSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" });
const tracked = listed.status === 0 ? listed.stdout.split("\0").filter(Boolean) : undefined;

let status = run(bin("biome"), ["check", "--no-errors-on-unmatched", ...(tracked ?? ["."])]);
let project = "tsconfig.json";
if (tracked) {
  // A config of its own, outside the tracked tree, that checks exactly the tracked TypeScript files.
  const dir = join(root, "node_modules", ".cache", "spotferry");
  mkdirSync(dir, { recursive: true });
  project = join(dir, "tsconfig.lint.json");
  const files = tracked.filter((f) => /\.(ts|mts)$/.test(f)).map((f) => join(root, f));
  writeFileSync(project, JSON.stringify({ extends: join(root, "tsconfig.json"), include: [], files }));
}
status = run(bin("tsc"), ["--noEmit", "-p", project]) || status;
process.exit(status);
