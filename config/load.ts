import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { ConfigError } from "./config-error.ts";
import { type Env, resolveEnvRefs } from "./env-refs.ts";
import { exportSpec } from "./export-spec.ts";
import { poolSpec } from "./pool-spec.ts";
import { agentSettings, controllerSettings } from "./settings.ts";

// Kept in its own light module (no zod, no yaml) so the CLI can report config errors without loading the schemas.
export { ConfigError };

export const schemasByKind = {
  Export: exportSpec,
  Pool: poolSpec,
  ControllerSettings: controllerSettings,
  AgentSettings: agentSettings,
} as const;
export type ConfigKind = keyof typeof schemasByKind;
export type ConfigOf<K extends ConfigKind> = z.infer<(typeof schemasByKind)[K]>;

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return String(value);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** Values under these fields are never echoed in an error: a password pasted in the wrong place must not reach a log. */
const SECRET_FIELD = /password|secret|token|credential/i;
const isSecretPath = (path: readonly PropertyKey[]) => path.some((p) => typeof p === "string" && SECRET_FIELD.test(p));

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || "(top level)";
}

/** One line per zod issue: `destination.format: expected one of parquet|ndjson|csv, got "xls"`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === "invalid_union" && issue.errors.length > 0 && issue.message === "Invalid input") {
      // Report the branch that got furthest rather than "invalid input".
      // The branches' paths are relative to the union's own place.
      const best = issue.errors.reduce((a, b) => (a.length <= b.length ? a : b));
      lines.push(
        ...formatIssues(
          best.map((e) => ({ ...e, path: [...issue.path, ...e.path] })),
          input,
        ),
      );
      continue;
    }
    const path = formatPath(issue.path);
    if (isSecretPath(issue.path)) {
      // zod's own messages never quote the value; only the "got ..." added below does.
      lines.push(`${path}: ${issue.message}`);
      continue;
    }
    const got = describe(valueAt(input, issue.path));
    let message: string;
    switch (issue.code) {
      case "invalid_value":
        message = `expected one of ${issue.values.map(String).join("|")}, got ${got}`;
        break;
      case "invalid_type":
        message = got === "nothing" ? "is required" : `expected ${issue.expected}, got ${got}`;
        break;
      case "unrecognized_keys":
        for (const key of issue.keys) lines.push(`${formatPath([...issue.path, key])}: unknown field (check its spelling)`);
        continue;
      case "invalid_format":
        message = `${issue.message}, got ${got}`;
        break;
      case "too_small":
      case "too_big":
        message = `${issue.message.replace(/^Too (small|big): /, "")}, got ${got}`;
        break;
      default:
        message = issue.message;
    }
    lines.push(`${path}: ${message}`);
  }
  return [...new Set(lines)];
}

/**
 * Parses YAML or JSON text. Integers that do not fit a double exactly become strings, so a key such as
 * 18446744073709551615 is never silently rounded.
 */
export function parseConfigText(text: string, source: string): unknown {
  const doc = parseDocument(text, { intAsBigInt: true, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => `line ${e.linePos?.[0]?.line ?? "?"}: ${e.message.split(" at line ")[0]!.split("\n")[0]}`),
    );
  }
  try {
    return doc.toJS({
      reviver: (_key: unknown, value: unknown) => {
        if (typeof value !== "bigint") return value;
        return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString();
      },
    });
  } catch (cause) {
    // An alias bomb ("Excessive alias count ...") and the like: refused in the file's name, not as a stack trace.
    throw new ConfigError(source, [`cannot be read: ${(cause as Error).message}`]);
  }
}

export interface ValidateOptions {
  /** Where an Export spec's `${VAR}` and `{ env: VAR }` connection fields are resolved (config/env-refs.ts); default process.env. */
  env?: Env;
}

/**
 * Validates parsed input against the schema of its `kind` (or the expected kind when given). An Export spec's
 * connection fields are resolved from the environment first, so what is validated (and recorded) is what is used.
 */
export function validateConfig<K extends ConfigKind>(
  input: unknown,
  source: string,
  expected?: K,
  opts: ValidateOptions = {},
): ConfigOf<K> {
  const kind = expected ?? (valueAt(input, ["kind"]) as string | undefined);
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new ConfigError(source, ["(top level): expected a mapping of fields"]);
  }
  if (!kind || !(kind in schemasByKind)) {
    throw new ConfigError(source, [`kind: expected one of ${Object.keys(schemasByKind).join("|")}, got ${describe(kind)}`]);
  }
  if (kind === "Export") {
    const refs = resolveEnvRefs(input, opts.env ?? process.env);
    if (refs.problems.length > 0) throw new ConfigError(source, refs.problems);
    input = refs.value;
  }
  const schema = schemasByKind[kind as K];
  const result = schema.safeParse(input);
  if (!result.success) throw new ConfigError(source, formatIssues(result.error.issues, input));
  return result.data as ConfigOf<K>;
}

export async function loadConfigFile<K extends ConfigKind>(file: string, expected?: K, opts: ValidateOptions = {}): Promise<ConfigOf<K>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [code === "ENOENT" ? "file not found" : `cannot read the file (${code ?? String(cause)})`]);
  }
  return validateConfig(parseConfigText(text, file), file, expected, opts);
}
