#!/usr/bin/env node
// Runs the TypeScript sources through tsx so `npx spotferry` works right after `npm install`, with no build step.
// Nodes do not use this: they run the self-contained agent bundle built by bootstrap/.
import { register } from "tsx/esm/api";

// The SDK warns that future releases will need Node 22; this project supports Node 20 with the versions it locks.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
register();
const { main } = await import("../controller/cli/main.ts");
await main(process.argv);
