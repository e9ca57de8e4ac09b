import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const root = join(import.meta.dirname, "..", "..");

/** Runs the real CLI (bin/spotferry.mjs) in a child process; never throws on a non-zero exit. */
export function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, "bin", "spotferry.mjs"), ...args],
      { cwd: root, env: { ...process.env, ...env }, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * Compares `text` with test/snapshots/<name>; writes it when the file is missing or SPOTFERRY_UPDATE_SNAPSHOTS=1
 * (review the diff before committing). The snapshots double as the README's sample output.
 */
export function matchSnapshot(name: string, text: string): void {
  const file = join(root, "test", "snapshots", name);
  if (process.env.SPOTFERRY_UPDATE_SNAPSHOTS === "1" || !existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    return;
  }
  assert.equal(text, readFileSync(file, "utf8"), `output differs from test/snapshots/${name} (SPOTFERRY_UPDATE_SNAPSHOTS=1 to accept)`);
}
