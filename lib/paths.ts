import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The checkout's root folder, found by walking up to spotferry's package.json. A module's own depth cannot tell it:
 * the same module runs from its source (controller/cli/x.ts) and from the built CLI (dist/chunk-*.mjs).
 */
function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "spotferry") return dir;
    if (dirname(dir) === dir) throw new Error(`finding spotferry's package.json above ${from}: none found`);
  }
}

export const repoRoot = findRoot(dirname(fileURLToPath(import.meta.url)));

/** The operator CLI's entry, for the processes the CLI starts itself (local agents, the rehearsal's on-call checks). */
export const cliBin = join(repoRoot, "bin", "spotferry.mjs");

/** True when this code runs from the TypeScript sources (tests, type-stripped), false in the built CLI or a bundle. */
export const fromSources = import.meta.url.endsWith(".ts");
