import type { Connection } from "mysql2/promise";
import type { SourcePosition } from "../../config/records.ts";
import type { Clock } from "../../lib/clock.ts";

/**
 * The source's binary log position (file and offset, and the GTID set) and its clock, read when planning begins:
 * what change capture continues from (as Debezium's and Flink CDC's snapshots hand over to the binlog) and what an
 * incremental schedule that follows the export starts after. It is read before the first row is, so every chunk of
 * the export reads at or after it: replaying the binlog from here can repeat a change the export already holds,
 * never miss one. Binary logging off or a user without REPLICATION CLIENT (MariaDB: BINLOG MONITOR) is not an error:
 * the position is null with the reason, and the export goes on.
 */
type Row = Record<string, unknown>;

const str = (v: unknown): string | null => (v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString("utf8") : String(v));

async function rows(conn: Connection, sql: string): Promise<Row[]> {
  const [r] = await conn.query(sql);
  return r as Row[];
}

/** SHOW BINARY LOG STATUS (MySQL 8.2+; 8.4 dropped the old name) or SHOW MASTER STATUS (MariaDB, older MySQL). */
async function binlogStatus(conn: Connection): Promise<{ row: Row | null; denied: string | null }> {
  for (const sql of ["SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"]) {
    try {
      return { row: (await rows(conn, sql))[0] ?? null, denied: null };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ER_PARSE_ERROR") continue;
      if (code === "ER_SPECIFIC_ACCESS_DENIED_ERROR" || code === "ER_ACCESS_DENIED_ERROR" || code === "ER_DBACCESS_DENIED_ERROR")
        return { row: null, denied: (err as Error).message };
      throw new Error(`reading the binary log position (${sql})`, { cause: err });
    }
  }
  return { row: null, denied: null };
}

export async function readSourcePosition(conn: Connection, clock: Clock): Promise<SourcePosition> {
  const takenAt = new Date(clock.now()).toISOString();
  const [v] = await rows(conn, "SELECT @@version AS version, CAST(NOW(6) AS CHAR) AS now, @@log_bin AS logBin");
  const version = str(v?.version) ?? "";
  const flavor = /mariadb/i.test(version) ? "mariadb" : "mysql";
  const base = { takenAt, serverTime: str(v?.now), flavor, version } as const;
  if (Number(v?.logBin) !== 1)
    return {
      ...base,
      binlog: null,
      gtid: null,
      reason:
        "binary logging is off on the source (log_bin = OFF): there is no position for change capture to continue from; " +
        "start the server with log-bin and binlog_format=ROW to have one recorded",
    };
  const { row, denied } = await binlogStatus(conn);
  if (denied)
    return {
      ...base,
      binlog: null,
      gtid: null,
      reason: `the source user may not read the binary log position (grant ${flavor === "mariadb" ? "BINLOG MONITOR" : "REPLICATION CLIENT"}): ${denied}`,
    };
  if (!row) return { ...base, binlog: null, gtid: null, reason: "the server reports no binary log (SHOW MASTER STATUS is empty)" };
  let gtid = str(row.Executed_Gtid_Set);
  if (flavor === "mariadb") gtid = str((await rows(conn, "SELECT @@gtid_binlog_pos AS g"))[0]?.g);
  return {
    ...base,
    binlog: { file: str(row.File) ?? "", position: str(row.Position) ?? "" },
    gtid: gtid?.trim() ? gtid.trim() : null,
  };
}
