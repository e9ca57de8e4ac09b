#!/usr/bin/env node
// `npm run demo`: installs what a fresh clone lacks (the locked npm tree and Node 24), continues under Node 24, builds
// the CLI and runs `spotferry demo` (which installs the Debian packages it needs and starts the local stack).
// Plain JS so it runs before `npm install`, under the system Node.
import { build, ensureRuntime, spotferry } from "./common.mjs";

ensureRuntime();
build();
const r = spotferry(["demo", ...process.argv.slice(2)]);
process.exit(r.status ?? 1);
