import assert from "node:assert/strict";
import { test } from "node:test";
import { GetMetricDataCommand, ListMetricsCommand, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { testSim } from "../helpers/sim.ts";

/** CloudWatch PutMetricData / GetMetricData / ListMetrics through the real SDK (AWS JSON 1.0, query-compatible). */

test("metrics are stored, aggregated per period and listed", async (t) => {
  const { cloudwatch } = await testSim(t);
  const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
  const dims = [{ Name: "Export", Value: "e-1" }];
  await cloudwatch.send(
    new PutMetricDataCommand({
      Namespace: "Spotferry",
      MetricData: [
        { MetricName: "RowsExported", Dimensions: dims, Timestamp: new Date(base + 1000), Value: 100, Unit: "Count" },
        { MetricName: "RowsExported", Dimensions: dims, Timestamp: new Date(base + 2000), Value: 50, Unit: "Count" },
        { MetricName: "RowsExported", Dimensions: dims, Timestamp: new Date(base + 61_000), Values: [10, 20], Counts: [1, 2] },
        { MetricName: "NodesRunning", Dimensions: [{ Name: "Pool", Value: "etl" }], Timestamp: new Date(base), Value: 3 },
      ],
    }),
  );
  // Over 10 KB: the SDK gzips the body (request compression); the sim must still read it.
  await cloudwatch.send(
    new PutMetricDataCommand({
      Namespace: "Spotferry",
      MetricData: Array.from({ length: 200 }, (_, i) => ({
        MetricName: "ChunkLatency",
        Dimensions: [
          { Name: "Export", Value: "e-1" },
          { Name: "Partition", Value: `p-${i % 3}` },
        ],
        Timestamp: new Date(base + i * 100),
        Value: i,
      })),
    }),
  );

  const data = await cloudwatch.send(
    new GetMetricDataCommand({
      StartTime: new Date(base - 60_000),
      EndTime: new Date(base + 5 * 60_000),
      ScanBy: "TimestampAscending",
      MetricDataQueries: [
        {
          Id: "rows",
          MetricStat: { Metric: { Namespace: "Spotferry", MetricName: "RowsExported", Dimensions: dims }, Period: 60, Stat: "Sum" },
        },
        {
          Id: "avg",
          MetricStat: { Metric: { Namespace: "Spotferry", MetricName: "RowsExported", Dimensions: dims }, Period: 60, Stat: "Average" },
        },
        {
          Id: "max",
          Label: "peak",
          MetricStat: { Metric: { Namespace: "Spotferry", MetricName: "RowsExported", Dimensions: dims }, Period: 300, Stat: "Maximum" },
        },
      ],
    }),
  );
  const [rows, avg, max] = data.MetricDataResults ?? [];
  assert.deepEqual(rows?.Timestamps, [new Date(base), new Date(base + 60_000)]);
  assert.deepEqual(rows?.Values, [150, 50]);
  assert.deepEqual(avg?.Values, [75, 50 / 3]);
  assert.equal(max?.Label, "peak");
  assert.equal(Math.max(...(max?.Values ?? [])), 100);
  assert.equal(rows?.StatusCode, "Complete");

  const listed = await cloudwatch.send(new ListMetricsCommand({ Namespace: "Spotferry" }));
  assert.equal(listed.Metrics?.length, 5);
  const byDim = await cloudwatch.send(new ListMetricsCommand({ Dimensions: [{ Name: "Partition", Value: "p-1" }] }));
  assert.deepEqual(
    byDim.Metrics?.map((m) => m.MetricName),
    ["ChunkLatency"],
  );
  const byName = await cloudwatch.send(new ListMetricsCommand({ MetricName: "NodesRunning" }));
  assert.deepEqual(byName.Metrics?.[0]?.Dimensions, [{ Name: "Pool", Value: "etl" }]);
});

test("invalid requests come back as the SDK's modelled exceptions", async (t) => {
  const { cloudwatch } = await testSim(t);
  const reserved = cloudwatch.send(new PutMetricDataCommand({ Namespace: "AWS/EC2", MetricData: [{ MetricName: "X", Value: 1 }] }));
  await assert.rejects(reserved, (err: Error & { Code?: string; $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(err.name, "InvalidParameterValueException");
    assert.equal(err.$metadata?.httpStatusCode, 400);
    return true;
  });
  const missing = cloudwatch.send(new GetMetricDataCommand({ MetricDataQueries: [], StartTime: new Date(), EndTime: new Date() }));
  await assert.rejects(missing, { name: "MissingRequiredParameterException" });
});
