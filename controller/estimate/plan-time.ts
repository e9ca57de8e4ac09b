import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { KeyColumn } from "../../config/records.ts";
import { ec2Client } from "../../lib/aws/ec2.ts";
import { systemClock } from "../../lib/clock.ts";
import { describeStateTable } from "../../lib/dynamo/table.ts";
import { describeError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { Ec2Provider } from "../cloud/ec2-provider.ts";
import { DynamoFleetStore } from "../store/dynamo-fleet-store.ts";
import { MemoryFleetStore } from "../store/memory-fleet-store.ts";
import { buildEstimate, type ExportEstimate, estimateExport } from "./index.ts";

/**
 * What `export plan` (and `--dry-run`) estimates, wired from the environment: the state table's pool and history (an
 * absent table reads as no pool), EC2's spot prices through the SDK (the sim locally), and a probe over a connection
 * of its own to the source. Reads only.
 */
export async function planTimeEstimate(o: {
  client: DynamoDBClient;
  tableName: string;
  jobs: JobStore;
  spec: ExportSpec;
  exportId: string;
  keyIndex: string;
  keyColumns: KeyColumn[];
  rows: number;
  partitions: number;
}): Promise<ExportEstimate> {
  try {
    return await estimateFromEnvironment(o);
  } catch (err) {
    // An estimate informs; it must not stop a plan (a source that refuses the probe, an EC2 outage).
    const est = buildEstimate({ ...o, pool: null, throughput: null, pricing: null, bootSeconds: 0 });
    return { ...est, assumptions: [`no estimate: ${describeError(err)}`] };
  }
}

async function estimateFromEnvironment(o: Parameters<typeof planTimeEstimate>[0]): Promise<ExportEstimate> {
  const exists = (await describeStateTable(o.client, o.tableName)) !== undefined;
  const fleet = exists
    ? new DynamoFleetStore({ client: o.client, tableName: o.tableName, clock: systemClock })
    : new MemoryFleetStore({ clock: systemClock });
  const ec2 = ec2Client();
  const conn = await openSource(o.spec.source);
  try {
    return await estimateExport({ jobs: o.jobs, fleet, cloud: new Ec2Provider({ ec2 }), clock: systemClock, conn }, o);
  } finally {
    ec2.destroy();
    await conn.end().catch(() => {});
  }
}
