import { NormalizedSchema } from "@smithy/core/schema";

/**
 * EC2 Query responses are XML whose element names come from the EC2 service model (`instancesSet`, `item`,
 * `instanceState`...). Rather than hand-copy hundreds of names, the sim serializes plain SDK-shaped objects
 * (`{ Reservations: [{ Instances: [...] }] }`) by walking the very schema the SDK's deserializer walks: a member's
 * element is its `xmlName` trait (or its member name), a list wraps its entries in the list member's `xmlName`
 * (`item` throughout EC2). So whatever the SDK can express, the sim answers with the names real EC2 uses.
 */
/** Whatever NormalizedSchema accepts: a static schema or a thunk to one. */
export type SchemaRef = Parameters<typeof NormalizedSchema.of>[0];

export const EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/";

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" }[c]};`);
}

function scalar(ns: NormalizedSchema, value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (ns.isTimestampSchema() && (typeof value === "number" || typeof value === "string")) {
    return new Date(value).toISOString();
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  return String(value);
}

function writeValue(ns: NormalizedSchema, value: unknown, out: string[]): void {
  if (value == null) return;
  if (ns.isListSchema()) {
    const member = ns.getValueSchema();
    const itemName = member.getMergedTraits().xmlName ?? "member";
    for (const item of value as unknown[]) writeElement(itemName, member, item, out);
    return;
  }
  if (ns.isMapSchema()) {
    const keyName = ns.getKeySchema().getMergedTraits().xmlName ?? "key";
    const valueName = ns.getValueSchema().getMergedTraits().xmlName ?? "value";
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out.push(`<entry><${keyName}>${escapeXml(k)}</${keyName}>`);
      writeElement(valueName, ns.getValueSchema(), v, out);
      out.push("</entry>");
    }
    return;
  }
  if (ns.isStructSchema()) {
    const record = value as Record<string, unknown>;
    for (const [memberName, member] of ns.structIterator()) {
      if (record[memberName] == null) continue;
      writeElement(member.getMemberTraits().xmlName ?? memberName, member, record[memberName], out);
    }
    return;
  }
  out.push(escapeXml(scalar(ns, value)));
}

function writeElement(name: string, ns: NormalizedSchema, value: unknown, out: string[]): void {
  if (value == null) return;
  out.push(`<${name}>`);
  writeValue(ns, value, out);
  out.push(`</${name}>`);
}

/** `<ActionResponse xmlns=...><requestId>..</requestId>...members...</ActionResponse>` for an operation's output schema. */
export function ec2ResponseXml(action: string, outputSchema: SchemaRef, value: object, requestId: string): string {
  const out = [`<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_XMLNS}">`];
  out.push(`<requestId>${requestId}</requestId>`);
  const ns = NormalizedSchema.of(outputSchema);
  if (ns.isStructSchema() && ns.structIterator().next().done) {
    // Operations without output (CreateTags, DeleteTags) answer `<return>true</return>` on EC2.
    out.push("<return>true</return>");
  } else {
    writeValue(ns, value, out);
  }
  out.push(`</${action}Response>`);
  return out.join("");
}

/** The EC2 error envelope; the SDK turns `Code` into the exception's `name`. */
export function ec2ErrorXml(code: string, message: string, requestId: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`
  );
}
