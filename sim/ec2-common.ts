import type { DescribeInstances$, Filter, Tag, TagSpecification } from "@aws-sdk/client-ec2";
import { Ec2Error, invalidValue } from "./ec2-errors.ts";
import type { World } from "./world.ts";

/** The SDK's static operation schema: [kind, namespace, name, traits, input, output]. */
export type OperationSchema = typeof DescribeInstances$;

/** One EC2 action: the SDK's operation schema (for decoding and encoding) and the sim's implementation. */
export interface Ec2Operation {
  schema: OperationSchema;
  run(world: World, input: Record<string, unknown>): object | Promise<object>;
}

/** Types the handler against the SDK's own input and output shapes. */
export function op<I, O extends object>(schema: OperationSchema, run: (world: World, input: I) => O): Ec2Operation {
  return { schema, run: (world, input) => run(world, input as I) };
}

/**
 * Opaque pagination tokens. They carry the offset and a fingerprint of the query, so a token replayed with a
 * different query is refused (EC2 refuses those too) instead of silently skipping items.
 */
export function paginate<T>(
  items: T[],
  input: { MaxResults?: number; NextToken?: string },
  query: unknown,
  limits: { min: number; max: number },
): { page: T[]; NextToken?: string } {
  const fingerprint = hash(JSON.stringify(query ?? null));
  let offset = 0;
  if (input.NextToken) {
    try {
      const t = JSON.parse(Buffer.from(input.NextToken, "base64url").toString()) as { o: number; f: string };
      if (t.f !== fingerprint || !Number.isInteger(t.o) || t.o < 0) throw new Error("mismatch");
      offset = t.o;
    } catch {
      throw new Ec2Error("InvalidNextToken", "The specified NextToken is not valid.");
    }
  }
  if (input.MaxResults === undefined) return { page: items.slice(offset) };
  if (input.MaxResults < limits.min || input.MaxResults > limits.max) {
    throw invalidValue("MaxResults", input.MaxResults, `Expected a value between ${limits.min} and ${limits.max}.`);
  }
  const page = items.slice(offset, offset + input.MaxResults);
  const next = offset + page.length;
  if (next >= items.length) return { page };
  return { page, NextToken: Buffer.from(JSON.stringify({ o: next, f: fingerprint })).toString("base64url") };
}

function hash(s: string): string {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h.toString(36);
}

/** EC2 filter values allow `*` and `?` wildcards. */
export function matchesValue(patterns: string[], value: string | undefined): boolean {
  if (value === undefined) return false;
  return patterns.some((p) => {
    if (!/[*?]/.test(p)) return p === value;
    const re = new RegExp(
      `^${p
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".")}$`,
    );
    return re.test(value);
  });
}

/**
 * Applies EC2 filters (AND across filters, OR across one filter's values). `fields` maps each supported filter name
 * to the item's value(s); `tag:KEY` and `tag-key`/`tag-value` work for anything with tags. Unknown names are refused.
 */
export function applyFilters<T>(
  items: T[],
  filters: Filter[] | undefined,
  fields: Record<string, (item: T) => string | string[] | undefined>,
  tags?: (item: T) => Map<string, string>,
): T[] {
  if (!filters?.length) return items;
  const tests = filters.map((f) => {
    const name = f.Name ?? "";
    const values = f.Values ?? [];
    const field = fields[name];
    if (field) {
      return (item: T) => {
        const v = field(item);
        return (Array.isArray(v) ? v : [v]).some((x) => matchesValue(values, x));
      };
    }
    if (tags && name.startsWith("tag:")) return (item: T) => matchesValue(values, tags(item).get(name.slice(4)));
    if (tags && name === "tag-key") return (item: T) => [...tags(item).keys()].some((k) => matchesValue(values, k));
    if (tags && name === "tag-value") return (item: T) => [...tags(item).values()].some((k) => matchesValue(values, k));
    throw new Ec2Error("InvalidParameterValue", `The filter '${name}' is invalid`);
  });
  return items.filter((item) => tests.every((t) => t(item)));
}

export function tagsFor(specs: TagSpecification[] | undefined, resourceType: string): Tag[] {
  const out: Tag[] = [];
  for (const s of specs ?? []) {
    if (!s.ResourceType) throw new Ec2Error("MissingParameter", "The request must contain the parameter ResourceType");
    if (s.ResourceType === resourceType) out.push(...(s.Tags ?? []));
  }
  for (const t of out) checkTag(t);
  return out;
}

export function checkTag(t: Tag): void {
  if (!t.Key) throw new Ec2Error("InvalidParameterValue", "Tag key must not be empty");
  if (t.Key.toLowerCase().startsWith("aws:")) {
    throw new Ec2Error("InvalidParameterValue", `Tag key '${t.Key}' is reserved: keys starting with aws: are AWS-only`);
  }
  if (t.Key.length > 128 || (t.Value ?? "").length > 256) {
    throw new Ec2Error("InvalidParameterValue", `Tag '${t.Key}' is too long (keys 128, values 256 characters)`);
  }
}

export const toTags = (m: Map<string, string>): Tag[] => [...m].map(([Key, Value]) => ({ Key, Value }));
