import { NormalizedSchema } from "@smithy/core/schema";
import { Ec2Error, invalidValue } from "./ec2-errors.ts";
import type { SchemaRef } from "./xml.ts";

/**
 * Decodes an EC2 Query request (`LaunchTemplateConfigs.1.Overrides.2.InstanceType=m5.large`) into the SDK's input shape
 * by walking the operation's input schema, the inverse of the SDK's own serializer: a struct member's key is its
 * `ec2QueryName` trait (else its capitalized xmlName or member name), lists are flattened as `Key.N`. A parameter the
 * schema does not know is rejected with `UnknownParameter`, as EC2 does, so typos in the controller fail loudly here too.
 */
interface Node {
  value?: string;
  children: Map<string, Node>;
}

function tree(params: URLSearchParams): Node {
  const root: Node = { children: new Map() };
  for (const [key, value] of params) {
    if (key === "Action" || key === "Version") continue;
    let node = root;
    for (const part of key.split(".")) {
      let next = node.children.get(part);
      if (!next) {
        next = { children: new Map() };
        node.children.set(part, next);
      }
      node = next;
    }
    node.value = value;
  }
  return root;
}

const queryKey = (memberName: string, ns: NormalizedSchema): string => {
  const traits = ns.getMergedTraits();
  if (typeof traits.ec2QueryName === "string") return traits.ec2QueryName;
  const key = typeof traits.xmlName === "string" ? traits.xmlName : memberName;
  return key.charAt(0).toUpperCase() + key.slice(1);
};

function read(ns: NormalizedSchema, node: Node, path: string, used: Set<Node>): unknown {
  used.add(node);
  if (ns.isStructSchema()) {
    const out: Record<string, unknown> = {};
    for (const [memberName, member] of ns.structIterator()) {
      const key = queryKey(memberName, member);
      const child = node.children.get(key);
      if (child) out[memberName] = read(member, child, path ? `${path}.${key}` : key, used);
    }
    return out;
  }
  if (ns.isListSchema()) {
    const member = ns.getValueSchema();
    const items = [...node.children.entries()].filter(([k]) => /^[1-9][0-9]*$/.test(k)).sort(([a], [b]) => Number(a) - Number(b));
    return items.map(([k, child]) => read(member, child, `${path}.${k}`, used));
  }
  const raw = node.value ?? "";
  if (ns.isBooleanSchema()) {
    if (raw !== "true" && raw !== "false") throw invalidValue(path, raw, "Expected true or false.");
    return raw === "true";
  }
  if (ns.isNumericSchema()) {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n)) throw invalidValue(path, raw, "Expected a number.");
    return n;
  }
  if (ns.isTimestampSchema()) {
    const t = /^[0-9.]+$/.test(raw) ? Number(raw) * 1000 : Date.parse(raw);
    if (!Number.isFinite(t)) throw invalidValue(path, raw, "Expected an ISO 8601 timestamp.");
    return new Date(t);
  }
  if (ns.isBlobSchema()) return new Uint8Array(Buffer.from(raw, "base64"));
  return raw;
}

function unused(node: Node, used: Set<Node>, prefix: string, out: string[]): void {
  for (const [k, child] of node.children) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (!used.has(child)) out.push(key);
    else unused(child, used, key, out);
  }
}

export function decodeEc2Query(inputSchema: SchemaRef, params: URLSearchParams): Record<string, unknown> {
  const root = tree(params);
  const used = new Set<Node>();
  const value = read(NormalizedSchema.of(inputSchema), root, "", used) as Record<string, unknown>;
  const unknown: string[] = [];
  unused(root, used, "", unknown);
  if (unknown.length > 0) throw new Ec2Error("UnknownParameter", `The parameter ${unknown[0]} is not recognized`);
  return value;
}
