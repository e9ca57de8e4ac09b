import type { Connection } from "mysql2/promise";
import type { ExportRecord } from "../../config/records.ts";
import type { Clock } from "../../lib/clock.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { orderBy, quoteIdent } from "../../lib/mysql/key-sql.ts";
import { nodeRunningMs, nodesOfExport } from "../oncall/cost.ts";
import type { FleetStore } from "../store/fleet-store.ts";
import type { Throughput } from "./estimate.ts";

/**
 * Measured throughput for the estimate, two ways (estimate.ts says which one was used):
 *
 * - History (preferred): the rows of past SUCCEEDED exports of the same source table in the same pool over the
 *   node-seconds billed for them (their node records). It measures the whole pipeline on the pool's own instance
 *   types, boot, interruptions and drains included, which no probe from the controller's host can.
 * - Probe (when there is no history): a timed read of the first PROBE_ROWS rows of the table through the export's
 *   index from the planning host (one connection, a fraction of a second on a healthy source). It measures the
 *   source and the network, not encoding or S3, so it is scaled by AGENT_SHARE: the agent spends about as much CPU
 *   encoding and uploading a row as reading it (the README's Performance table: the product at 0.50x the C client).
 */

/** Rows the probe reads: enough to pass the connection's warm-up, small enough to be harmless on a production source. */
export const PROBE_ROWS = 20_000;
/** The share of a raw read rate an agent process keeps after encoding, uploading and committing. */
export const AGENT_SHARE = 0.5;
/** Past exports looked at. */
const HISTORY_EXPORTS = 50;

/** Rows per node-second of the pool's past exports of the same table, per agent process; null without any. */
export async function historyThroughput(
  deps: { jobs: JobStore; fleet: FleetStore },
  o: { record: Pick<ExportRecord, "exportId" | "spec">; partitionsPerNode: number },
): Promise<Throughput | null> {
  const { source, pool } = o.record.spec;
  const past = (await deps.jobs.listExports({ state: "SUCCEEDED", limit: HISTORY_EXPORTS })).filter(
    (e) =>
      e.exportId !== o.record.exportId &&
      e.spec.pool === pool &&
      e.spec.source.database === source.database &&
      e.spec.source.table === source.table &&
      e.rowsExported > 0,
  );
  if (past.length === 0) return null;
  const nodes = await deps.fleet.listNodes(pool);
  let rows = 0;
  let nodeMs = 0;
  let used = 0;
  for (const e of past) {
    const mine = nodesOfExport(nodes, e.exportId);
    const ms = mine.reduce((sum, n) => sum + nodeRunningMs(n, Date.parse(e.updatedAt)), 0);
    if (ms <= 0) continue;
    rows += e.rowsExported;
    nodeMs += ms;
    used++;
  }
  if (used === 0) return null;
  const perNode = rows / (nodeMs / 1000);
  return {
    rowsPerSecondPerSlot: perNode / o.partitionsPerNode,
    source: "history",
    includesBoot: true,
    detail: `${Math.round(perNode).toLocaleString("en-US")} rows per node-second measured over ${used} past export(s) of ${source.database}.${source.table} in pool ${pool} (boot and interruptions included)`,
  };
}

/** A timed read of the table's first rows through the export's key index, scaled to an agent process (AGENT_SHARE). */
export async function probeThroughput(
  conn: Connection,
  o: { record: Pick<ExportRecord, "spec" | "keyIndex" | "keyColumns">; clock: Clock; rows?: number },
): Promise<Throughput | null> {
  const { database, table, columns } = o.record.spec.source;
  const limit = o.rows ?? PROBE_ROWS;
  const select = columns?.length ? columns.map(quoteIdent).join(", ") : "*";
  const sql =
    `SELECT ${select} FROM ${quoteIdent(database)}.${quoteIdent(table)} FORCE INDEX (${quoteIdent(o.record.keyIndex)}) ` +
    `${orderBy(o.record.keyColumns)} LIMIT ${limit}`;
  let read: number;
  let ms: number;
  try {
    // A first small read opens the table and warms the statement path, so the timed one measures rows.
    await conn.query(`${sql.slice(0, sql.lastIndexOf(" LIMIT "))} LIMIT 1`);
    const started = o.clock.now();
    const [rows] = await conn.query({ sql, rowsAsArray: true });
    ms = Math.max(1, o.clock.now() - started);
    read = (rows as unknown[]).length;
  } catch (cause) {
    throw new Error(`probing the read rate of ${database}.${table}`, { cause });
  }
  if (read === 0) return null;
  const raw = read / (ms / 1000);
  return {
    rowsPerSecondPerSlot: raw * AGENT_SHARE,
    source: "probe",
    includesBoot: false,
    detail: `probe: ${read.toLocaleString("en-US")} rows read in ${ms} ms (${Math.round(raw).toLocaleString("en-US")} rows/s on one connection from this host), x${AGENT_SHARE} for encoding and upload per agent process`,
  };
}
