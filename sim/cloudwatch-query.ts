import { randomUUID } from "node:crypto";
import { CloudWatchError, type MetricStore } from "./cloudwatch.ts";
import { CLOUDWATCH_XMLNS, queryErrorXml } from "./iam/replies.ts";
import { escapeXml } from "./xml.ts";

/**
 * CloudWatch's other protocol, the AWS Query one most non-JS clients still speak (boto3's older releases, the AWS
 * CLI v1, curl scripts): a form body `Action=PutMetricData&Version=2010-08-01&MetricData.member.1.MetricName=...`,
 * answered with XML in the 2010-08-01 namespace. Same store and validation as the JSON side (cloudwatch.ts).
 */
export const CLOUDWATCH_VERSION = "2010-08-01";
export const CLOUDWATCH_QUERY_ACTIONS = ["PutMetricData", "GetMetricData", "ListMetrics"] as const;

const NUMERIC = new Set(["Value", "SampleCount", "Sum", "Minimum", "Maximum", "Period", "StorageResolution", "MaxDatapoints"]);
const NUMERIC_LISTS = new Set(["Values", "Counts"]);
type Tree = { [k: string]: Tree | string };

/** `A.member.2.B=x` -> { A: [undefined, { B: "x" }] }, lists compacted; numbers and booleans where CloudWatch has them. */
export function decodeQuery(params: URLSearchParams): Record<string, unknown> {
  const root: Tree = {};
  for (const [key, value] of params) {
    if (key === "Action" || key === "Version") continue;
    const parts = key.split(".");
    let node = root;
    for (const [i, part] of parts.entries()) {
      if (i === parts.length - 1) node[part] = value;
      else {
        const next = node[part];
        const child: Tree = typeof next === "object" ? next : {};
        node[part] = child;
        node = child;
      }
    }
  }
  return convert(root, "") as Record<string, unknown>;
}

/** `name` is the member's key, `parent` the key of the structure (or list) holding it. */
function convert(node: Tree | string, name: string, parent = ""): unknown {
  if (typeof node === "string") {
    // A dimension's Value is text; every other Value is a datum.
    if ((NUMERIC.has(name) && parent !== "Dimensions") || NUMERIC_LISTS.has(name)) return Number(node);
    if (name === "ReturnData") return node === "true";
    return node;
  }
  const member = node.member;
  if (member !== undefined && typeof member === "object") {
    const items = Object.entries(member)
      .filter(([k]) => /^[1-9][0-9]*$/.test(k))
      .sort(([a], [b]) => Number(a) - Number(b));
    return items.map(([, v]) => convert(v, name, parent));
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, convert(v, k, name)]));
}

/** Plain values to query-protocol XML: arrays as `<member>`, dates and the Timestamps list as ISO 8601. */
function xml(value: unknown, name = ""): string {
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.map((v) => `<member>${xml(v, name)}</member>`).join("");
  if (typeof value === "object") {
    return Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `<${k}>${xml(v, k)}</${k}>`)
      .join("");
  }
  if (name === "Timestamps" && typeof value === "number") return new Date(value * 1000).toISOString();
  return escapeXml(String(value));
}

export interface QueryReply {
  status: number;
  body: string;
}

export function handleCloudWatchQuery(store: MetricStore, action: string, params: URLSearchParams, now: number): QueryReply {
  try {
    const input = decodeQuery(params);
    if (params.get("Version") !== CLOUDWATCH_VERSION) {
      throw new CloudWatchError("InvalidParameterValue", "InvalidParameterValue", `The Version must be ${CLOUDWATCH_VERSION}.`);
    }
    const output =
      action === "PutMetricData"
        ? store.put(input, now)
        : action === "GetMetricData"
          ? store.getData(input)
          : action === "ListMetrics"
            ? store.list(input, now)
            : undefined;
    if (!output) throw new CloudWatchError("InvalidAction", "InvalidAction", `The action ${action} is not valid for this web service.`);
    const result = Object.keys(output).length ? `<${action}Result>${xml(output)}</${action}Result>` : "";
    return {
      status: 200,
      body:
        `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${CLOUDWATCH_XMLNS}">${result}` +
        `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
    };
  } catch (err) {
    const e = err instanceof CloudWatchError ? err : new CloudWatchError("InternalServiceError", "InternalFailure", String(err), 500);
    return { status: e.status, body: queryErrorXml(e.queryCode, e.message, e.status >= 500 ? "Receiver" : "Sender") };
  }
}
