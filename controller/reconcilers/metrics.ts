import { type MetricDatum, PutMetricDataCommand, type StandardUnit } from "@aws-sdk/client-cloudwatch";
import { nodeLifecycle, partitionState } from "../../config/records.ts";
import { estimateExportCost, nodeCost, nodesOfExport } from "../oncall/cost.ts";
import { poolNodes, type Reconciler } from "./context.ts";

// Cost accounting lives in controller/oncall/cost.ts (shared with the CLI); re-exported for existing importers.
export { nodeCost } from "../oncall/cost.ts";

/**
 * Metrics to CloudWatch (namespace from the settings), per export: rows and bytes exported, partitions by state,
 * estimated seconds to finish, cost so far and projected cost (controller/oncall/cost.ts); per pool: nodes by lifecycle, desired size, interruptions and
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

    const nodesByPool = new Map<string, Awaited<ReturnType<typeof ctx.fleet.listNodes>>>();
    for (const pool of await ctx.fleet.listPools()) {
      const nodes = await poolNodes(ctx, pool.pool);
      nodesByPool.set(pool.pool, nodes);
      const dims = { Pool: pool.pool };
      for (const lc of nodeLifecycle.options)
        put("Nodes", nodes.filter((n) => n.lifecycle === lc).length, "Count", { ...dims, Lifecycle: lc });
      put("DesiredNodes", pool.desiredSize, "Count", dims);
      put("Interruptions", pool.interruptions, "Count", dims);
      put("Replacements", pool.replacements, "Count", dims);
      put(
        "CostSoFar",
        nodes.reduce((sum, n) => sum + nodeCost(n, now), 0),
        "None",
        dims,
      );
    }

    for (const e of await ctx.jobs.listExports({ state: "RUNNING" })) {
      const p = await ctx.jobs.progress(e.exportId);
      const dims = { ExportId: e.exportId };
      put("RowsExported", p.total.rows, "Count", dims);
      put("BytesExported", p.total.bytes, "Bytes", dims);
      for (const s of partitionState.options) put("Partitions", p.byState[s].partitions, "Count", { ...dims, State: s });
      const prev = samples.get(e.exportId);
      samples.set(e.exportId, { at: now, rows: p.total.rows });
      const rate = prev && now > prev.at && p.total.rows > prev.rows ? (p.total.rows - prev.rows) / ((now - prev.at) / 1000) : null;
      const cost = estimateExportCost({
        exportId: e.exportId,
        nodes: nodesOfExport(nodesByPool.get(e.spec.pool) ?? [], e.exportId),
        rowsDone: p.total.rows,
        rowsTotal: e.estimatedRows,
        now,
        rowsPerSecond: rate,
        startedAt: Date.parse(e.createdAt),
      });
      put("CostSoFar", cost.costSoFar, "None", dims);
      // Only from a sampled rate: after a restart the first run reports no ETA rather than a lifetime average.
      if (rate !== null && cost.etaSeconds !== null) put("EstimatedSecondsToFinish", cost.etaSeconds, "Seconds", dims);
      if (rate !== null && cost.projectedTotal !== null) put("ProjectedCost", cost.projectedTotal, "None", dims);
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
