import { exportIdProblem, formatSeconds, parseDuration } from "../../config/units.ts";
import { ExitCode, UserError } from "../errors.ts";

/**
 * Every numeric (and id-like) flag of the CLI is parsed here, so each refusal is one line that names the flag and
 * exits 2 before the command touches anything: `--lease: expected a duration between 1s and 1d, got "abc"`.
 */

const usage = (flag: string, expected: string, text: string) =>
  new UserError(`${flag}: expected ${expected}, got ${JSON.stringify(text)}`, { exitCode: ExitCode.usage });

/** A whole number within [min, max] ("4", not "4.5", "4x", "" or "1e3"). */
export function intFlag(flag: string, text: string, bounds: { min: number; max: number }): number {
  const n = /^\s*-?\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < bounds.min || n > bounds.max)
    throw usage(flag, `a whole number from ${bounds.min} to ${bounds.max}`, text);
  return n;
}

/** Like intFlag for a flag that may be left out. */
export function optionalIntFlag(flag: string, text: string | undefined, bounds: { min: number; max: number }): number | undefined {
  return text === undefined ? undefined : intFlag(flag, text, bounds);
}

/** A duration in seconds ("15", "15s", "2m", "250ms") within [min, max] seconds. */
export function durationFlag(flag: string, text: string, bounds: { min: number; max: number }): number {
  const s = parseDuration(text);
  if (s === null || !Number.isFinite(s) || s < bounds.min || s > bounds.max)
    throw usage(flag, `a duration between ${formatSeconds(bounds.min)} and ${formatSeconds(bounds.max)} (e.g. "15s")`, text);
  return s;
}

/** A positive number (fractions allowed) at most `max`. */
export function positiveFlag(flag: string, text: string, max: number): number {
  const n = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0 || n > max) throw usage(flag, `a positive number up to ${max}`, text);
  return n;
}

/** An export id: it becomes part of object keys, item keys and log paths. */
export function exportIdFlag(flag: string, text: string): string {
  const problem = exportIdProblem(text);
  if (problem) throw new UserError(`${flag}: ${problem}`, { exitCode: ExitCode.usage });
  return text;
}

/** A DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -). */
export function tableNameFlag(flag: string, text: string): string {
  if (!/^[A-Za-z0-9_.-]{3,255}$/.test(text)) throw usage(flag, "a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)", text);
  return text;
}

/** --state-table, else $SPOTFERRY_STATE_TABLE, else "spotferry"; checked either way. */
export function stateTableFlag(text: string | undefined): string {
  if (text !== undefined) return tableNameFlag("--state-table", text);
  const env = process.env.SPOTFERRY_STATE_TABLE;
  return env ? tableNameFlag("$SPOTFERRY_STATE_TABLE", env) : "spotferry";
}
