import { Document, isMap, isScalar, Scalar, visit } from "yaml";

/**
 * CloudFormation plumbing of `spotferry deploy template`: pseudo-parameters inside strings (Fn::Sub) and the printed
 * form (YAML with comments, or JSON).
 */

export type CfnValue = string | number | boolean | null | CfnValue[] | { [key: string]: CfnValue };

/** What `deploy template` puts in ARNs where the operator did not pass --account / --region. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub placeholder, not JavaScript's
export const ACCOUNT_REF = "${AWS::AccountId}";
// biome-ignore lint/suspicious/noTemplateCurlyInString: as above
export const REGION_REF = "${AWS::Region}";

const PSEUDO = /\$\{AWS::[A-Za-z]+\}/;

/**
 * Wraps every string that names a pseudo-parameter (`${AWS::AccountId}`...) in Fn::Sub, escaping any other `${` as
 * Fn::Sub's literal `${!`; other values are returned as they are. Applied to a policy document, its result is what the
 * template holds, so a test can rebuild a role's policy and compare it whole. Object keys are never substituted: a
 * condition key naming a pseudo-parameter is refused, since CloudFormation would keep it literally.
 */
export function withSub(value: unknown): CfnValue {
  if (typeof value === "string") {
    if (!PSEUDO.test(value)) return value;
    return { "Fn::Sub": value.replace(/\$\{(?!AWS::[A-Za-z]+\})/g, "${!") };
  }
  if (Array.isArray(value)) return value.map(withSub);
  if (value !== null && typeof value === "object") {
    const out: Record<string, CfnValue> = {};
    for (const [k, v] of Object.entries(value)) {
      if (PSEUDO.test(k)) throw new Error(`building the template: ${k}: a key cannot name a pseudo-parameter`);
      if (v !== undefined) out[k] = withSub(v);
    }
    return out;
  }
  return value as CfnValue;
}

export const sub = (text: string): CfnValue => ({ "Fn::Sub": text });
export const ref = (name: string): CfnValue => ({ Ref: name });
export const getAtt = (resource: string, attribute: string): CfnValue => ({ "Fn::GetAtt": [resource, attribute] });

/** A CloudFormation template, and comments for the YAML form keyed by a path of map keys ("Resources.NodeRole"). */
export interface Template {
  body: { [key: string]: CfnValue };
  comments: Record<string, string>;
  /** Comment lines at the top of the YAML form. */
  header: string;
}

/** The template as YAML (default; comments included) or JSON (same content, no comments). */
export function renderTemplate(t: Template, format: "yaml" | "json"): string {
  if (format === "json") return `${JSON.stringify(t.body, null, 2)}\n`;
  const doc = new Document(t.body);
  doc.commentBefore = indent(t.header);
  // "2010-09-09" unquoted is a date to YAML 1.1 parsers (PyYAML, hence cfn-lint): quoted, it stays a string everywhere.
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
  });
  for (const [path, comment] of Object.entries(t.comments)) {
    const keys = path.split(".");
    const parent = keys.length === 1 ? doc.contents : doc.getIn(keys.slice(0, -1), true);
    if (!isMap(parent)) throw new Error(`commenting the template at ${path}: no such map`);
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === keys.at(-1));
    if (!pair || !isScalar(pair.key)) throw new Error(`commenting the template at ${path}: no such key`);
    pair.key.commentBefore = indent(comment);
  }
  return doc.toString({ lineWidth: 0 });
}

const indent = (text: string) =>
  text
    .split("\n")
    .map((l) => ` ${l}`)
    .join("\n");
