import assert from "node:assert/strict";
import { test } from "node:test";
import { DescribeRegionsCommand } from "@aws-sdk/client-ec2";
import { signedFetch, testSim } from "../helpers/sim.ts";

/**
 * Any client, not only the JS SDK: CloudWatch's query protocol (form body, XML replies in the 2010-08-01 namespace)
 * signed by @smithy/signature-v4 the way every AWS client signs, told apart from EC2 by the credential scope's
 * service; and EC2 DescribeRegions, which a user's own tooling calls first.
 */
const form = (params: Record<string, string>) => new URLSearchParams({ Version: "2010-08-01", ...params }).toString();

test("CloudWatch over the query protocol: PutMetricData, ListMetrics, GetMetricData and its errors", async (t) => {
  const { sim, root } = await testSim(t);
  const cw = (params: Record<string, string>, service = "monitoring") =>
    signedFetch(sim.url, { service, body: form(params), credentials: root });
  const t0 = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 120_000);
  const put = await cw({
    Action: "PutMetricData",
    Namespace: "spotferry/test",
    "MetricData.member.1.MetricName": "RowsExported",
    "MetricData.member.1.Value": "42.5",
    "MetricData.member.1.Unit": "Count",
    "MetricData.member.1.Timestamp": t0.toISOString(),
    "MetricData.member.1.Dimensions.member.1.Name": "pool",
    "MetricData.member.1.Dimensions.member.1.Value": "7",
    "MetricData.member.2.MetricName": "RowsExported",
    "MetricData.member.2.Values.member.1": "1",
    "MetricData.member.2.Values.member.2": "3",
    "MetricData.member.2.Counts.member.1": "1",
    "MetricData.member.2.Counts.member.2": "2",
    "MetricData.member.2.Timestamp": t0.toISOString(),
    "MetricData.member.2.Dimensions.member.1.Name": "pool",
    "MetricData.member.2.Dimensions.member.1.Value": "7",
  });
  const putXml = await put.text();
  assert.equal(put.status, 200, putXml);
  assert.match(
    putXml,
    /^<\?xml[^>]*>\n<PutMetricDataResponse xmlns="http:\/\/monitoring.amazonaws.com\/doc\/2010-08-01\/"><ResponseMetadata><RequestId>[0-9a-f-]{36}<\/RequestId>/,
  );

  const list = await (await cw({ Action: "ListMetrics", Namespace: "spotferry/test" })).text();
  assert.match(
    list,
    /<ListMetricsResponse xmlns="[^"]+"><ListMetricsResult><Metrics><member><Namespace>spotferry\/test<\/Namespace><MetricName>RowsExported<\/MetricName><Dimensions><member><Name>pool<\/Name><Value>7<\/Value><\/member><\/Dimensions><\/member><\/Metrics><\/ListMetricsResult>/,
    "a dimension's Value stays text",
  );

  const data = await (
    await cw({
      Action: "GetMetricData",
      StartTime: new Date(t0.getTime() - 60_000).toISOString(),
      EndTime: new Date(t0.getTime() + 60_000).toISOString(),
      "MetricDataQueries.member.1.Id": "rows",
      "MetricDataQueries.member.1.MetricStat.Metric.Namespace": "spotferry/test",
      "MetricDataQueries.member.1.MetricStat.Metric.MetricName": "RowsExported",
      "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name": "pool",
      "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value": "7",
      "MetricDataQueries.member.1.MetricStat.Period": "60",
      "MetricDataQueries.member.1.MetricStat.Stat": "Sum",
    })
  ).text();
  assert.match(data, /<GetMetricDataResult><MetricDataResults><member><Id>rows<\/Id><Label>RowsExported<\/Label>/);
  assert.match(
    data,
    new RegExp(`<Timestamps><member>${t0.toISOString()}</member></Timestamps><Values><member>49.5</member></Values>`),
    "42.5 + 1 + 3 x 2",
  );
  assert.match(data, /<StatusCode>Complete<\/StatusCode>/);

  const missing = await cw({ Action: "PutMetricData", "MetricData.member.1.MetricName": "x" });
  assert.equal(missing.status, 400);
  assert.match(
    await missing.text(),
    /^<\?xml[^>]*>\n<ErrorResponse xmlns="[^"]+"><Error><Type>Sender<\/Type><Code>MissingParameter<\/Code><Message>The parameter Namespace is required\.<\/Message>/,
  );
  const unknown = await cw({ Action: "DescribeAlarms" });
  assert.match(await unknown.text(), /<Code>InvalidAction<\/Code>/);

  const unsigned = await fetch(sim.url, { method: "POST", body: form({ Action: "ListMetrics" }) });
  assert.equal(unsigned.status, 403);
  assert.match(
    await unsigned.text(),
    /<ErrorResponse xmlns="http:\/\/monitoring.amazonaws.com\/doc\/2010-08-01\/"><Error><Type>Sender<\/Type><Code>MissingAuthenticationToken<\/Code>/,
    "unsigned: told apart by Version",
  );
  const badKey = await signedFetch(sim.url, {
    service: "monitoring",
    body: form({ Action: "ListMetrics" }),
    credentials: { accessKeyId: "nobody", secretAccessKey: "x" },
  });
  assert.match(await badKey.text(), /<ErrorResponse[^>]*><Error><Type>Sender<\/Type><Code>InvalidClientTokenId<\/Code>/);

  await fetch(`${sim.url}/_sim/iam/roles/ops`, {
    method: "PUT",
    body: JSON.stringify({
      policy: {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Action: "cloudwatch:PutMetricData",
            Resource: "*",
            Condition: { StringEquals: { "cloudwatch:namespace": "spotferry" } },
          },
        ],
      },
    }),
  });
  const s = (await (await fetch(`${sim.url}/_sim/iam/roles/ops/session`, { method: "POST", body: "{}" })).json()) as {
    AccessKeyId: string;
    SecretAccessKey: string;
    Token: string;
  };
  const asOps = (ns: string) =>
    signedFetch(sim.url, {
      service: "monitoring",
      body: form({ Action: "PutMetricData", Namespace: ns, "MetricData.member.1.MetricName": "x", "MetricData.member.1.Value": "1" }),
      credentials: { accessKeyId: s.AccessKeyId, secretAccessKey: s.SecretAccessKey, sessionToken: s.Token },
    });
  assert.equal((await asOps("spotferry")).status, 200);
  const denied = await asOps("other");
  assert.equal(denied.status, 403);
  assert.match(
    await denied.text(),
    /<Code>AccessDenied<\/Code><Message>User: arn:aws:sts::000000000000:assumed-role\/ops\/sim-control is not authorized to perform: cloudwatch:PutMetricData on resource: \*/,
  );
});

test("EC2 DescribeRegions: the sim's region, its endpoint and opt-in status", async (t) => {
  const { ec2 } = await testSim(t);
  const all = await ec2.send(new DescribeRegionsCommand({ AllRegions: true }));
  assert.deepEqual(all.Regions, [{ RegionName: "us-east-1", Endpoint: "ec2.us-east-1.amazonaws.com", OptInStatus: "opt-in-not-required" }]);
  const named = await ec2.send(new DescribeRegionsCommand({ RegionNames: ["us-east-1"] }));
  assert.equal(named.Regions?.length, 1);
  const filtered = await ec2.send(new DescribeRegionsCommand({ Filters: [{ Name: "region-name", Values: ["eu-*"] }] }));
  assert.deepEqual(filtered.Regions ?? [], []);
  await assert.rejects(ec2.send(new DescribeRegionsCommand({ RegionNames: ["mars-1"] })), { name: "InvalidParameterValue" });
});
