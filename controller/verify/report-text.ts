import type { Command } from "commander";
import { optionalIntFlag } from "../../lib/cli/flags.ts";
import type { KeyDiff } from "./key-diff.ts";
import type { VerifyOptions, VerifyReport } from "./verify.ts";

/** The verify commands' mode flags (`export verify`, `schedule verify`) and their text reports. */
export interface VerifyModeFlags {
  keysOnly?: boolean;
  rows?: string | boolean;
}

export const DEFAULT_KEY_LIMIT = 100;
const MAX_KEY_LIMIT = 100_000;

export function addVerifyModeOptions(cmd: Command): Command {
  return cmd
    .option("--keys-only", "compare only every row's key (exactly-once, faster), not the content of its columns")
    .option("--rows [n]", `on a mismatch, name the differing keys (up to n, default ${DEFAULT_KEY_LIMIT}; bounded memory)`);
}

export function verifyOptions(f: VerifyModeFlags): VerifyOptions {
  const rows = f.rows === undefined || f.rows === false ? undefined : f.rows === true ? DEFAULT_KEY_LIMIT : f.rows;
  return {
    keysOnly: f.keysOnly === true,
    rows: typeof rows === "string" ? optionalIntFlag("--rows", rows, { min: 1, max: MAX_KEY_LIMIT }) : rows,
  };
}

export function keyLines(indent: string, keys: KeyDiff[] | undefined): string {
  return (keys ?? [])
    .map((k) => `${indent}key ${k.key}: ${k.problem}${k.copies && k.copies > 1 ? ` (${k.copies} copies)` : ""}\n`)
    .join("");
}

export function verifyReportText(id: string, report: VerifyReport): string {
  let out = "";
  for (const m of report.mismatched) out += `partition ${m.partition}: ${m.problems.join("; ")}\n${keyLines("  ", m.keys)}`;
  const what = report.mode === "keys" ? "keys only" : "content";
  return (
    out +
    `verify ${id} (${what}): ${report.partitions} partitions, ${report.rows.toLocaleString("en-US")} rows in S3; ` +
    `${report.missing} missing, ${report.duplicated} duplicated, ${report.mismatched.length} partitions with problems\n`
  );
}
