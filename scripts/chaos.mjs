#!/usr/bin/env node
// `npm run chaos [-- --seed N --faults 220 --rows 300000 ...]`: installs what a fresh clone lacks (the locked npm tree and
// Node 24), continues under Node 24, builds the CLI (the controllers run as `spotferry controller run` processes) and
// runs the chaos run (sim/chaos/main.ts), which starts the local stack itself. Plain JS so it runs under the system Node.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { build, ensureRuntime, root } from "./common.mjs";

ensureRuntime();
build();
const r = spawnSync(process.execPath, [join(root, "sim", "chaos", "main.ts"), ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
