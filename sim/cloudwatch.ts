import type { Dimension, MetricDataQuery, MetricDatum } from "@aws-sdk/client-cloudwatch";

/**
 * CloudWatch as the current SDK speaks it: AWS JSON 1.0 (`POST /`, `X-Amz-Target: GraniteServiceVersion20100801.<Op>`,
 * `Content-Type: application/x-amz-json-1.0`, timestamps as epoch seconds) in its query-compatible flavour: errors
 * carry `__type` and the `x-amzn-query-error: Code;Sender` header the SDK reads. Metrics live in memory.
 */
export const CLOUDWATCH_TARGET_PREFIX = "GraniteServiceVersion20100801.";

export class CloudWatchError extends Error {
  readonly type: string;
  readonly queryCode: string;
  readonly status: number;

  constructor(type: string, queryCode: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.queryCode = queryCode;
    this.status = status;
  }
}

const invalid = (message: string) => new CloudWatchError("InvalidParameterValueException", "InvalidParameterValue", message);
const missingParam = (name: string) =>
  new CloudWatchError("MissingRequiredParameterException", "MissingParameter", `The parameter ${name} is required.`);

interface Point {
  t: number;
  sum: number;
  count: number;
  min: number;
  max: number;
  values: number[];
  unit?: string;
}

interface Series {
  namespace: string;
  name: string;
  dimensions: Dimension[];
  points: Point[];
}

const seriesKey = (ns: string, name: string, dims: Dimension[]) =>
  JSON.stringify([ns, name, [...dims].sort((a, b) => (a.Name ?? "").localeCompare(b.Name ?? "")).map((d) => [d.Name, d.Value])]);

/** Epoch seconds (the JSON protocol's timestamp) or an ISO string, to epoch ms. */
const toMs = (v: unknown, field: string): number => {
  const ms = typeof v === "number" ? v * 1000 : typeof v === "string" ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(ms)) throw invalid(`The parameter ${field} must be a timestamp.`);
  return ms;
};

export class MetricStore {
  private readonly series = new Map<string, Series>();

  put(input: { Namespace?: string; MetricData?: (Omit<MetricDatum, "Timestamp"> & { Timestamp?: unknown })[] }, now: number) {
    if (!input.Namespace) throw missingParam("Namespace");
    if (input.Namespace.startsWith("AWS/")) throw invalid("The value AWS/ for parameter Namespace is invalid.");
    if (!input.MetricData?.length) throw missingParam("MetricData");
    if (input.MetricData.length > 1000) throw invalid("The collection MetricData must not have a size greater than 1000.");
    for (const [i, d] of input.MetricData.entries()) {
      const at = `MetricData.member.${i + 1}`;
      if (!d.MetricName) throw missingParam(`${at}.MetricName`);
      if ((d.Dimensions?.length ?? 0) > 30) throw invalid(`${at}.Dimensions: at most 30 dimensions.`);
      const kinds = [d.Value !== undefined, d.StatisticValues !== undefined, (d.Values?.length ?? 0) > 0].filter(Boolean);
      if (kinds.length > 1) {
        throw new CloudWatchError(
          "InvalidParameterCombinationException",
          "InvalidParameterCombination",
          `${at}: specify only one of Value, StatisticValues and Values.`,
        );
      }
      const t = d.Timestamp === undefined ? now : toMs(d.Timestamp, `${at}.Timestamp`);
      let point: Point;
      if (d.StatisticValues) {
        const s = d.StatisticValues;
        point = { t, sum: s.Sum ?? 0, count: s.SampleCount ?? 0, min: s.Minimum ?? 0, max: s.Maximum ?? 0, values: [] };
      } else {
        const values = d.Values?.length ? d.Values : [d.Value ?? 0];
        const counts = d.Counts?.length ? d.Counts : values.map(() => 1);
        if (counts.length !== values.length) throw invalid(`${at}: Values and Counts must have the same length.`);
        const expanded = values.flatMap((v, k) => Array(Math.max(1, Math.round(counts[k] ?? 1))).fill(v) as number[]);
        point = {
          t,
          sum: expanded.reduce((a, b) => a + b, 0),
          count: expanded.length,
          min: Math.min(...expanded),
          max: Math.max(...expanded),
          values: expanded,
        };
      }
      point.unit = d.Unit;
      const dims = d.Dimensions ?? [];
      const key = seriesKey(input.Namespace, d.MetricName, dims);
      const s = this.series.get(key) ?? { namespace: input.Namespace, name: d.MetricName, dimensions: dims, points: [] };
      s.points.push(point);
      this.series.set(key, s);
    }
    return {};
  }

  list(
    input: {
      Namespace?: string;
      MetricName?: string;
      Dimensions?: { Name?: string; Value?: string }[];
      NextToken?: string;
      RecentlyActive?: string;
    },
    now: number,
  ) {
    const all = [...this.series.values()].filter(
      (s) =>
        (!input.Namespace || s.namespace === input.Namespace) &&
        (!input.MetricName || s.name === input.MetricName) &&
        (input.Dimensions ?? []).every((f) =>
          s.dimensions.some((d) => d.Name === f.Name && (f.Value === undefined || d.Value === f.Value)),
        ) &&
        (input.RecentlyActive !== "PT3H" || s.points.some((p) => p.t >= now - 3 * 3600_000)),
    );
    const offset = input.NextToken ? Number(Buffer.from(input.NextToken, "base64url").toString()) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw invalid("The NextToken is invalid.");
    const page = all.slice(offset, offset + 500);
    const next = offset + page.length < all.length ? Buffer.from(String(offset + page.length)).toString("base64url") : undefined;
    return {
      Metrics: page.map((s) => ({ Namespace: s.namespace, MetricName: s.name, Dimensions: s.dimensions })),
      NextToken: next,
    };
  }

  getData(input: { MetricDataQueries?: MetricDataQuery[]; StartTime?: unknown; EndTime?: unknown; ScanBy?: string }) {
    if (!input.MetricDataQueries?.length) throw missingParam("MetricDataQueries");
    if (input.StartTime === undefined) throw missingParam("StartTime");
    if (input.EndTime === undefined) throw missingParam("EndTime");
    const start = toMs(input.StartTime, "StartTime");
    const end = toMs(input.EndTime, "EndTime");
    if (end <= start) throw invalid("The parameter StartTime must be less than the parameter EndTime.");
    const results = [];
    for (const q of input.MetricDataQueries) {
      if (!q.Id || !/^[a-z][a-zA-Z0-9_]*$/.test(q.Id)) throw invalid(`The Id ${q.Id ?? "(none)"} is invalid.`);
      if (q.Expression) throw invalid(`Query ${q.Id}: metric math expressions are not evaluated by the sim.`);
      const stat = q.MetricStat;
      if (!stat?.Metric?.MetricName || !stat.Metric.Namespace || !stat.Period || !stat.Stat) {
        throw missingParam(`MetricDataQueries ${q.Id}: MetricStat with Metric, Period and Stat`);
      }
      const s = this.series.get(seriesKey(stat.Metric.Namespace, stat.Metric.MetricName, stat.Metric.Dimensions ?? []));
      const periodMs = stat.Period * 1000;
      const buckets = new Map<number, Point[]>();
      for (const p of s?.points ?? []) {
        if (p.t < start || p.t >= end || (stat.Unit && p.unit !== stat.Unit)) continue;
        const b = Math.floor(p.t / periodMs) * periodMs;
        buckets.set(b, [...(buckets.get(b) ?? []), p]);
      }
      const rows = [...buckets].map(([t, ps]) => [t, aggregate(ps, stat.Stat as string)] as const);
      rows.sort((a, b) => (input.ScanBy === "TimestampAscending" ? a[0] - b[0] : b[0] - a[0]));
      if (q.ReturnData === false) continue;
      results.push({
        Id: q.Id,
        Label: q.Label ?? stat.Metric.MetricName,
        Timestamps: rows.map(([t]) => t / 1000),
        Values: rows.map(([, v]) => v),
        StatusCode: "Complete",
      });
    }
    return { MetricDataResults: results, Messages: [] };
  }
}

function aggregate(points: Point[], stat: string): number {
  const sum = points.reduce((a, p) => a + p.sum, 0);
  const count = points.reduce((a, p) => a + p.count, 0);
  if (stat === "Sum") return sum;
  if (stat === "SampleCount") return count;
  if (stat === "Average") return count ? sum / count : 0;
  if (stat === "Minimum") return Math.min(...points.map((p) => p.min));
  if (stat === "Maximum") return Math.max(...points.map((p) => p.max));
  const pct = /^p(\d+(\.\d+)?)$/.exec(stat);
  if (pct) {
    const values = points.flatMap((p) => p.values).sort((a, b) => a - b);
    if (!values.length) return Math.max(...points.map((p) => p.max));
    return values[Math.min(values.length - 1, Math.ceil((Number(pct[1]) / 100) * values.length) - 1)] ?? 0;
  }
  throw invalid(`The statistic ${stat} is not supported.`);
}

export interface JsonReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function handleCloudWatch(store: MetricStore, target: string, body: string, now: number): JsonReply {
  const headers: Record<string, string> = { "content-type": "application/x-amz-json-1.0" };
  try {
    const op = target.slice(CLOUDWATCH_TARGET_PREFIX.length);
    let input: Record<string, unknown>;
    try {
      input = body.trim() ? (JSON.parse(body) as Record<string, unknown>) : {};
    } catch {
      throw new CloudWatchError("SerializationException", "SerializationException", "The request body is not valid JSON.");
    }
    const output =
      op === "PutMetricData"
        ? store.put(input, now)
        : op === "GetMetricData"
          ? store.getData(input)
          : op === "ListMetrics"
            ? store.list(input, now)
            : undefined;
    if (!output) throw new CloudWatchError("UnknownOperationException", "InvalidAction", `Operation ${op} is not supported by the sim.`);
    return { status: 200, headers, body: JSON.stringify(output) };
  } catch (err) {
    const e = err instanceof CloudWatchError ? err : new CloudWatchError("InternalServiceError", "InternalServiceError", String(err), 500);
    headers["x-amzn-query-error"] = `${e.queryCode};${e.status >= 500 ? "Receiver" : "Sender"}`;
    return { status: e.status, headers, body: JSON.stringify({ __type: `com.amazonaws.cloudwatch#${e.type}`, message: e.message }) };
  }
}
