#!/usr/bin/env node
// `npm run demo`: installs the npm dependencies a fresh clone lacks, then runs `spotferry demo` (which installs the
// Debian packages it needs and starts the local stack). Plain JS so it runs before `npm install`.
import { ensureNodeModules, spotferry } from "./common.mjs";

ensureNodeModules();
const r = spotferry(["demo", ...process.argv.slice(2)]);
process.exit(r.status ?? 1);
