#!/usr/bin/env node
// `npm run build`: the operator CLI as JavaScript in dist/ (esbuild, about a second). One entry per program: the
// production CLI (spotferry.mjs), a checkout's CLI with the local rehearsal's commands on top (spotferry-dev.mjs), the
// sim daemon and the Parquet compression worker; code splitting turns each command's dynamic import
// into its own chunk, so a command loads only its modules. npm packages are bundled too (fewer files to resolve at
// start-up), except those that load native addons or files from their own folder at run time.
// The agent bundle that nodes run is built separately, by bootstrap/bundle.ts. The scheduled Lambda handler
// (controller/lambda/handler.ts) is one more file, dist/lambda/index.mjs (`index.handler`; deploy/README.md).
import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { root } from "./common.mjs";

/** Packages left in node_modules: native addons, wasm read from their folder, and build tools used at run time. */
export const EXTERNAL = ["@duckdb/*", "ssh2", "cpu-features", "@bokuweb/zstd-wasm", "esbuild", "playwright-core"];

// Bundled CommonJS packages call require(); ESM output has none, so each chunk gets one.
const BANNER = 'import { createRequire as __sfCreateRequire } from "node:module";\nconst require = __sfCreateRequire(import.meta.url);';

const dist = join(root, "dist");
const staging = join(root, `dist.${process.pid}.tmp`);
rmSync(staging, { recursive: true, force: true });
try {
  const common = {
    absWorkingDir: root,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    outExtension: { ".js": ".mjs" },
    external: EXTERNAL,
    banner: { js: BANNER },
    legalComments: "none",
    sourcemap: "linked",
    logLevel: "warning",
  };
  const result = await build({
    ...common,
    entryPoints: {
      spotferry: "controller/cli/main.ts",
      "spotferry-dev": "sim/cli/main.ts",
      sim: "sim/main.ts",
      "parquet-worker": "lib/output/encode/parquet-worker.ts",
    },
    outdir: staging,
    splitting: true,
    metafile: true,
  });
  // One file, no chunks: the Lambda runtime loads `index.handler` from dist/lambda/index.mjs.
  await build({ ...common, entryPoints: { index: "controller/lambda/handler.ts" }, outdir: join(staging, "lambda") });
  // Which sources each output holds and which outputs it imports: test/fast/module-graph.test.ts reads it.
  writeFileSync(join(staging, "meta.json"), JSON.stringify(result.metafile));
  // Swap in whole, so a CLI started meanwhile sees the old build or the new one, never half of each.
  const old = `${dist}.${process.pid}.old`;
  if (existsSync(dist)) renameSync(dist, old);
  renameSync(staging, dist);
  rmSync(old, { recursive: true, force: true });
} catch (err) {
  rmSync(staging, { recursive: true, force: true });
  process.stderr.write(`building the CLI into dist/ failed: ${err.message}\n`);
  process.exit(1);
}
