import { type MetricDatum, PutMetricDataCommand, type StandardUnit } from "@aws-sdk/client-cloudwatch";
import type { NodeRecord } from "../../config/records.ts";
import { nodeLifecycle, partitionState } from "../../config/records.ts";
import { isoMs, type Reconciler } from "./context.ts";

/** USD a node has cost so far: its price at launch times its running time (until terminated, else until now). */
export function nodeCost(n: NodeRecord, now: number): number {
  const end = n.terminatedAt ? isoMs(n.terminatedAt) : now;
  return (n.price * Math.max(0, end - isoMs(n.launchedAt))) / 3_600_000;
}

/**
 * Metrics to CloudWatch (namespace from the settings), per export: rows and bytes exported, partitions by state,
 * estimated seconds to finish and cost so far; per pool: nodes by lifecycle, desired size, interruptions and
 * replacements (running totals), cost so far. Cost of a node is attributed to the export it was launched for.
 * The export rate behind the ETA is sampled between two runs of this reconciler (in memory: after a controller
 * restart the first run reports no ETA).
 */
export function createMetricsReconciler(intervalMs = 60_000): Reconciler {
  const samples = new Map<string, { at: number; rows: number }>();
  return async (ctx) => {
    if (!ctx.cloudwatch) return { nextRunInMs: intervalMs };
    const now = ctx.clock.now();
    const data: MetricDatum[] = [];
    const at = new Date(now);
    const put = (name: string, value: number, unit: StandardUnit, dims: Record<string, string>) =>
      data.push({
        MetricName: name,
        Value: value,
        Unit: unit,
        Timestamp: at,
        Dimensions: Object.entries(dims).map(([Name, Value]) => ({ Name, Value })),
      });

    const costByExport = new Map<string, number>();
    for (const pool of await ctx.fleet.listPools()) {
      const nodes = await ctx.fleet.listNodes(pool.pool);
      const dims = { Pool: pool.pool };
      for (const lc of nodeLifecycle.options)
        put("Nodes", nodes.filter((n) => n.lifecycle === lc).length, "Count", { ...dims, Lifecycle: lc });
      put("DesiredNodes", pool.desiredSize, "Count", dims);
      put("Interruptions", pool.interruptions, "Count", dims);
      put("Replacements", pool.replacements, "Count", dims);
      let poolCost = 0;
      for (const n of nodes) {
        const c = nodeCost(n, now);
        poolCost += c;
        if (n.exportId) costByExport.set(n.exportId, (costByExport.get(n.exportId) ?? 0) + c);
      }
      put("CostSoFar", poolCost, "None", dims);
    }

    for (const e of await ctx.jobs.listExports({ state: "RUNNING" })) {
      const p = await ctx.jobs.progress(e.exportId);
      const dims = { ExportId: e.exportId };
      put("RowsExported", p.total.rows, "Count", dims);
      put("BytesExported", p.total.bytes, "Bytes", dims);
      for (const s of partitionState.options) put("Partitions", p.byState[s].partitions, "Count", { ...dims, State: s });
      put("CostSoFar", costByExport.get(e.exportId) ?? 0, "None", dims);
      const prev = samples.get(e.exportId);
      samples.set(e.exportId, { at: now, rows: p.total.rows });
      if (prev && now > prev.at && p.total.rows > prev.rows) {
        const rate = (p.total.rows - prev.rows) / ((now - prev.at) / 1000);
        const remaining = Math.max(0, e.estimatedRows - p.total.rows);
        put("EstimatedSecondsToFinish", remaining / rate, "Seconds", dims);
      }
    }

    for (let i = 0; i < data.length; i += 500) {
      try {
        await ctx.cloudwatch.send(
          new PutMetricDataCommand({ Namespace: ctx.settings.metricsNamespace, MetricData: data.slice(i, i + 500) }),
        );
      } catch (cause) {
        throw new Error(`publishing ${data.length} metrics to CloudWatch namespace ${ctx.settings.metricsNamespace}`, { cause });
      }
    }
    return { nextRunInMs: intervalMs };
  };
}
