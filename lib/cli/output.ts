import type { Command } from "commander";
import { ExitCode, UserError } from "../errors.ts";

/**
 * The one renderer of the CLI's output, so every command answers `-o json|yaml|wide` the same way and its default
 * output is plain aligned columns (like kubectl): a header row, columns separated by at least two spaces, no boxes
 * and no rules between rows, so `grep`, `awk '{print $1}'` and `sort` work on it. Numbers carry thousands separators
 * here and never in JSON or YAML.
 */

export type OutputFormat = "table" | "wide" | "json" | "yaml";
export type DataFormat = "json" | "yaml";

export interface OutputFlags {
  json?: boolean;
  output?: string;
}

const FORMATS = ["json", "yaml", "wide"] as const;

/**
 * Adds `-o, --output json|yaml|wide` and `--json` (the same as `-o json`, kept for scripts) to a command; a bad format
 * is refused (exit 2) before the command reads anything.
 */
export function addOutputOptions(cmd: Command): Command {
  return cmd
    .option("-o, --output <format>", "json, yaml, or wide (more columns); default: aligned columns")
    .option("--json", "the same as -o json")
    .hook("preAction", (c) => {
      try {
        outputFormat(c.opts() as OutputFlags);
      } catch (err) {
        process.stderr.write(`error: ${(err as Error).message}\n`);
        process.exit(ExitCode.usage);
      }
    });
}

/** The format asked for; an unknown one, or `--json` with another `-o`, is a usage error (exit 2). */
export function outputFormat(flags: OutputFlags): OutputFormat {
  const o = flags.output;
  if (o !== undefined && !(FORMATS as readonly string[]).includes(o)) {
    throw new UserError(`-o: expected one of ${FORMATS.join("|")}, got ${JSON.stringify(o)}`, { exitCode: ExitCode.usage });
  }
  if (flags.json && o !== undefined && o !== "json") {
    throw new UserError(`--json cannot be combined with -o ${o}`, { exitCode: ExitCode.usage });
  }
  if (flags.json) return "json";
  return (o as OutputFormat | undefined) ?? "table";
}

/** JSON or YAML, when the format is one of those (the caller prints its human rendering otherwise). */
export const dataFormat = (format: OutputFormat): DataFormat | null => (format === "json" || format === "yaml" ? format : null);

/** BigInt values (exact keys) become strings in both formats, so a reader never rounds them. */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));

/**
 * The text of `value` as JSON (2-space indent, byte for byte what `--json` always printed) or YAML, with a final
 * newline. The YAML library loads only when YAML is asked for (start-up time of every other command).
 */
export async function formatData(value: unknown, format: DataFormat): Promise<string> {
  if (format === "json") return `${JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`;
  // Through the bundle a dynamic import of this CommonJS package keeps its exports on `default` only.
  const yaml = (await import("yaml")) as typeof import("yaml") & { default?: typeof import("yaml") };
  const stringify = yaml.stringify ?? yaml.default?.stringify;
  return stringify(plain(value) ?? null, { lineWidth: 0 });
}

export async function printData(value: unknown, format: DataFormat): Promise<void> {
  process.stdout.write(await formatData(value, format));
}

/**
 * Prints `value` as data when the flags ask for JSON or YAML and returns true; returns false (printing nothing) when
 * the caller prints its human rendering (`isWide(flags)` says whether `-o wide` was asked for).
 */
export async function emitData(flags: OutputFlags, value: unknown): Promise<boolean> {
  const format = dataFormat(outputFormat(flags));
  if (format) await printData(value, format);
  return format !== null;
}

export const isWide = (flags: OutputFlags) => outputFormat(flags) === "wide";

/** 1234567 -> "1,234,567" (rounded to a whole number); BigInt exactly. For human output only. */
export function formatNumber(n: number | bigint | null | undefined): string {
  if (n === null || n === undefined) return "-";
  if (typeof n === "bigint") return n.toLocaleString("en-US");
  if (!Number.isFinite(n)) return "-";
  return Math.round(n).toLocaleString("en-US");
}

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | bigint | null | undefined;
  /** Only with `-o wide`. */
  wide?: boolean;
  /** Numbers read best right-aligned; text (the default) left. */
  align?: "left" | "right";
}

/** A cell as one line: numbers with separators, newlines and tabs folded so a row stays one line for grep and awk. */
function cellText(v: string | number | bigint | null | undefined): string {
  if (v === null || v === undefined || v === "") return "-";
  if (typeof v === "number" || typeof v === "bigint") return formatNumber(v);
  return v.replace(/[\t\r\n]+/g, "; ");
}

/**
 * Rows as aligned columns: headers in capitals, at least two spaces between columns, an empty cell shown as "-" (so
 * every row has the same number of fields for awk), no trailing spaces. `indent` prefixes every line.
 */
export function renderColumns<T>(columns: Column<T>[], rows: T[], opts: { wide?: boolean; indent?: string } = {}): string {
  const cols = columns.filter((c) => opts.wide || !c.wide);
  const grid = [cols.map((c) => c.header.toUpperCase()), ...rows.map((r) => cols.map((c) => cellText(c.value(r))))];
  const widths = cols.map((_, i) => Math.max(...grid.map((line) => (line[i] as string).length)));
  const indent = opts.indent ?? "";
  const lines = grid.map((line) =>
    line
      .map((cell, i) => {
        const last = i === cols.length - 1;
        const right = cols[i]?.align === "right";
        if (right) return cell.padStart(widths[i] as number);
        return last ? cell : cell.padEnd(widths[i] as number);
      })
      .join("  ")
      .trimEnd(),
  );
  return `${lines.map((l) => indent + l).join("\n")}\n`;
}
