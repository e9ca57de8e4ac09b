import type mysql from "mysql2/promise";
import { collectWireRows } from "../../lib/mysql/wire-rows.ts";
import type { RawRows } from "../../lib/output/encode/index.ts";

/** The rows of `sql` as wire bytes (what the agent hands an encoder), in batches of `batchRows` rows. */
export async function wireRows(conn: mysql.Connection, sql: string, stride: number, batchRows: number): Promise<RawRows[]> {
  const batches: RawRows[] = [];
  const raw = (conn as unknown as { connection: import("mysql2").Connection }).connection;
  const query = raw.query({ sql, rowsAsArray: true });
  const collector = collectWireRows(query, { stride, batchRows, batchBytes: 1 << 30, onBatch: (b) => batches.push(b) });
  await new Promise<void>((resolve, reject) => query.on("end", resolve).on("error", reject));
  const rest = collector.flush();
  if (rest) batches.push(rest);
  return batches;
}
