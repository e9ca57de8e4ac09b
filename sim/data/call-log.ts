import type { Connection } from "mysql2/promise";

/**
 * A synthetic call log shaped like the one in the source stories: sparse BIGINT UNSIGNED ids (a dense run, a sparse
 * run with huge gaps, ids just above 2^53 and a cluster near 2^64), heavily skewed customers, DATETIME(3),
 * DECIMAL money, an ENUM, and nullable utf8mb4 notes with emoji. Rows are generated inside MariaDB from its
 * SEQUENCE engine (seq_1_to_N), so millions of rows load in seconds and every run produces the same table.
 * `updated_at` (indexed, DATETIME(6)) makes it a source for incremental schedules in updated-at mode: generated rows
 * carry started_at + duration (deterministic, all in the past), while rows inserted or updated later are stamped with
 * the server's NOW(6) by the column's DEFAULT / ON UPDATE, as an application table's would be.
 */
export interface CallLogOptions {
  database: string;
  table?: string;
  rows: number;
  onProgress?: (rowsDone: number) => void;
}

const q = (id: string) => `\`${id.replace(/`/g, "``")}\``;

export async function createCallLog(conn: Connection, opts: CallLogOptions): Promise<void> {
  const table = `${q(opts.database)}.${q(opts.table ?? "call_log")}`;
  const n = Math.floor(opts.rows);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`createCallLog: rows must be a positive integer, got ${opts.rows}`);
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${q(opts.database)} CHARACTER SET utf8mb4`);
  await conn.query(`DROP TABLE IF EXISTS ${table}`);
  await conn.query(`CREATE TABLE ${table} (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    customer_id INT UNSIGNED NOT NULL,
    caller VARCHAR(20) NOT NULL,
    callee VARCHAR(20) NOT NULL,
    started_at DATETIME(3) NOT NULL,
    duration_s INT NOT NULL,
    cost DECIMAL(10,4) NOT NULL,
    status ENUM('completed','failed','busy','no-answer') NOT NULL,
    notes VARCHAR(200) CHARACTER SET utf8mb4 NULL,
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    KEY customer_idx (customer_id),
    KEY updated_idx (updated_at)
  ) ENGINE=InnoDB`);
  const dense = Math.floor(n * 0.7);
  const sparse = Math.floor(n * 0.25);
  const above53 = Math.floor((n - dense - sparse) / 2);
  // ids: 1..dense; then 10^12 + k*1000; then 2^53 + k*7; then the top of the BIGINT UNSIGNED range.
  const idExpr = `CASE
      WHEN seq <= ${dense} THEN seq
      WHEN seq <= ${dense + sparse} THEN 1000000000000 + (seq - ${dense}) * 1000
      WHEN seq <= ${dense + sparse + above53} THEN 9007199254740992 + (seq - ${dense + sparse}) * 7
      ELSE 18446744073709551615 - (${n} - seq) END`;
  // started_at, and updated_at = started_at + duration_s (the same RAND(seq + 3) as duration_s): the call's end.
  const startedExpr = "TIMESTAMP('2021-01-01') + INTERVAL ((seq * 97) MOD 157680000) SECOND + INTERVAL (seq MOD 1000) * 1000 MICROSECOND";
  const batch = 500_000;
  for (let start = 1; start <= n; start += batch) {
    const end = Math.min(n, start + batch - 1);
    await conn.query(`INSERT INTO ${table}
      SELECT ${idExpr},
        FLOOR(POW(RAND(seq), 6) * 100000),
        CONCAT('+1', LPAD(FLOOR(RAND(seq + 1) * 10000000000), 10, '0')),
        CONCAT('+44', LPAD(FLOOR(RAND(seq + 2) * 10000000000), 10, '0')),
        ${startedExpr},
        FLOOR(RAND(seq + 3) * 3600),
        ROUND(RAND(seq + 4) * 25, 4),
        ELT(1 + (seq MOD 4), 'completed', 'failed', 'busy', 'no-answer'),
        IF(seq MOD 7 = 0, NULL, CONCAT('call ', seq, IF(seq MOD 5 = 0, ' 📞 ☎️', ''))),
        ${startedExpr} + INTERVAL FLOOR(RAND(seq + 3) * 3600) SECOND
      FROM ${q(opts.database)}.seq_${start}_to_${end}`);
    opts.onProgress?.(end);
  }
}
