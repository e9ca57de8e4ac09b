/**
 * `${VAR}` and `{ env: VAR }` in an Export spec's connection fields, replaced by the environment's values when the
 * spec is loaded on the controller/CLI side. Nodes never see the operator's environment: the export record carries
 * the resolved values (the password is different: its `{ env }` names a variable resolved on each node, and is left
 * alone here). Only whole `${NAME}` references are expanded, anywhere in a string ("db-${ENV}.internal"); no
 * defaults, no `$NAME`, no nesting. Anything else that starts with `${` is refused rather than kept literally,
 * since it is almost always a typo.
 */
export type Env = Record<string, string | undefined>;

/** The fields that may name a variable (as paths into the spec); port must come out as an integer 1..65535. */
export const ENV_REF_FIELDS: readonly (readonly string[])[] = [
  ["source", "host"],
  ["source", "port"],
  ["source", "user"],
  ["source", "database"],
  // The CA bundle is read by the controller (the planner records the certificates), so a path from the environment
  // resolves where the file is: `spotferry init` writes `${SPOTFERRY_MYSQL_CA}` for the local stack.
  ["source", "tls", "caFile"],
];

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;
const REF = /\$\{([^}]*)\}?/g;

type Resolved = { value: unknown } | { problem: string };

/** One string with its `${NAME}` references replaced; `field` names it in a problem. */
export function expandString(text: string, o: { field: string; env: Env }): { value: string; vars: string[] } | { problem: string } {
  const vars: string[] = [];
  let problem: string | undefined;
  const value = text.replace(REF, (whole, name: string) => {
    if (problem) return whole;
    if (!whole.endsWith("}") || !NAME.test(name)) {
      problem = `${o.field}: ${JSON.stringify(whole)} is not a variable reference (write \${NAME}; no defaults or other expansions)`;
      return whole;
    }
    const v = o.env[name];
    if (v === undefined) {
      problem = `${o.field}: environment variable ${name} is not set`;
      return whole;
    }
    vars.push(name);
    return v;
  });
  return problem ? { problem } : { value, vars };
}

function resolveField(raw: unknown, o: { field: string; env: Env; port: boolean }): Resolved | undefined {
  let text: { value: string; vars: string[] } | { problem: string };
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const keys = Object.keys(raw);
    const name = (raw as { env?: unknown }).env;
    if (keys.length !== 1 || typeof name !== "string") return undefined; // not a reference: the schema reports it
    if (!NAME.test(name)) return { problem: `${o.field}: env: ${JSON.stringify(name)} is not an environment variable name` };
    const v = o.env[name];
    if (v === undefined) return { problem: `${o.field}: environment variable ${name} is not set` };
    text = { value: v, vars: [name] };
  } else if (typeof raw === "string" && raw.includes("${")) {
    text = expandString(raw, o);
  } else {
    return undefined;
  }
  if ("problem" in text) return text;
  if (!o.port) return { value: text.value };
  const port = /^\d{1,5}$/.test(text.value.trim()) ? Number(text.value.trim()) : Number.NaN;
  if (!(port >= 1 && port <= 65535))
    return { problem: `${o.field}: expected a port 1..65535, got ${JSON.stringify(text.value)} from ${text.vars.join(", ")}` };
  return { value: port };
}

/**
 * A copy of `input` (a parsed Export spec, not yet validated) with the references in ENV_REF_FIELDS resolved from
 * `env`, or one problem per field that cannot be: an unset variable, a malformed reference, a port outside 1..65535.
 * Fields without a reference are left for the schema to check.
 */
export function resolveEnvRefs(input: unknown, env: Env): { value: unknown; problems: string[] } {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return { value: input, problems: [] };
  const value = structuredClone(input) as Record<string, unknown>;
  const problems: string[] = [];
  for (const path of ENV_REF_FIELDS) {
    let parent: Record<string, unknown> | undefined = value;
    for (const p of path.slice(0, -1)) {
      const next: unknown = parent?.[p];
      parent = next !== null && typeof next === "object" && !Array.isArray(next) ? (next as Record<string, unknown>) : undefined;
    }
    const leaf = path[path.length - 1] as string;
    if (!parent || !(leaf in parent)) continue;
    const r = resolveField(parent[leaf], { field: path.join("."), env, port: leaf === "port" });
    if (r === undefined) continue;
    if ("problem" in r) problems.push(r.problem);
    else parent[leaf] = r.value;
  }
  return { value, problems };
}
