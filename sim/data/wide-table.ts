import type { Connection } from "mysql2/promise";

/**
 * Tables that stress an exporter's memory rather than its row rate, generated inside MariaDB from its SEQUENCE engine
 * (deterministic, like call-log.ts):
 * - createWideTable: about 100 columns (BIGINT UNSIGNED key, INT/BIGINT/DECIMAL/DOUBLE/DATETIME/VARCHAR/ENUM, six TEXT
 *   and four JSON columns), rows of about `rowBytes` (default 10 KB).
 * - createBigRows: a LONGBLOB and a LONGTEXT per row, about `rowBytes` (default 1 MiB) together.
 * Text is MD5/SHA2 hex of the row number, so it compresses about as well as application text.
 */
export interface GeneratedTableOptions {
  database: string;
  table?: string;
  rows: number;
  /** Target bytes per row. */
  rowBytes?: number;
  onProgress?: (rowsDone: number) => void;
}

const q = (id: string) => `\`${id.replace(/`/g, "``")}\``;

function checkRows(what: string, rows: number): number {
  const n = Math.floor(rows);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${what}: rows must be a positive integer, got ${rows}`);
  return n;
}

/** Column definitions and their SELECT expressions over `seq`, in the same order. */
function wideColumns(rowBytes: number): { ddl: string[]; exprs: string[] } {
  const ddl: string[] = ["id BIGINT UNSIGNED NOT NULL PRIMARY KEY"];
  const exprs: string[] = ["seq * 13 + IF(seq MOD 10 = 0, 9007199254740992, 0)"];
  const add = (d: string, e: string) => {
    ddl.push(d);
    exprs.push(e);
  };
  for (let i = 0; i < 20; i++) add(`i${i} INT NULL`, `IF(seq MOD ${i + 11} = 0, NULL, (seq * ${i + 3}) MOD 1000003)`);
  for (let i = 0; i < 12; i++) add(`b${i} BIGINT NOT NULL`, `seq * ${i + 1000003} - ${i * 17}`);
  for (let i = 0; i < 10; i++) add(`d${i} DECIMAL(18,4) NOT NULL`, `ROUND(RAND(seq + ${i}) * 1e9, 4)`);
  for (let i = 0; i < 8; i++) add(`f${i} DOUBLE NULL`, `IF(seq MOD 9 = ${i}, NULL, RAND(seq * ${i + 2}))`);
  for (let i = 0; i < 10; i++)
    add(`t${i} DATETIME(3) NOT NULL`, `TIMESTAMP('2020-01-01') + INTERVAL ((seq * ${97 + i}) MOD 157680000) SECOND`);
  for (let i = 0; i < 24; i++) add(`v${i} VARCHAR(64) NULL`, `IF(seq MOD ${i + 5} = 0, NULL, CONCAT('v${i}-', MD5(seq + ${i})))`);
  for (let i = 0; i < 5; i++)
    add(`e${i} ENUM('new','open','held','closed') NOT NULL`, `ELT(1 + ((seq + ${i}) MOD 4), 'new','open','held','closed')`);
  // The rest of the row's bytes: six TEXT and four JSON columns of about equal size (an MD5 is 32 hex characters).
  const fixed = 20 * 4 + 12 * 8 + 10 * 9 + 8 * 8 + 10 * 7 + 24 * 40 + 5;
  const each = Math.max(64, Math.floor((rowBytes - fixed) / 10));
  const reps = Math.max(1, Math.round(each / 32));
  for (let i = 0; i < 6; i++) add(`x${i} TEXT NULL`, `IF(seq MOD 17 = ${i}, NULL, REPEAT(MD5(seq * ${i + 7}), ${reps}))`);
  for (let i = 0; i < 4; i++)
    add(
      `j${i} JSON NULL`,
      `JSON_OBJECT('id', seq, 'kind', ELT(1 + (seq MOD 3), 'a', 'b', 'c'), 'n', seq * ${i + 1}, 'tags', JSON_ARRAY(MD5(seq), ${i}), 'body', REPEAT(MD5(seq + ${i}), ${Math.max(1, reps - 2)}))`,
    );
  return { ddl, exprs };
}

/** A table of ~100 columns and rows of about rowBytes (default 10 KB), TEXT and JSON included. */
export async function createWideTable(conn: Connection, opts: GeneratedTableOptions): Promise<void> {
  const n = checkRows("createWideTable", opts.rows);
  const table = `${q(opts.database)}.${q(opts.table ?? "wide")}`;
  const { ddl, exprs } = wideColumns(opts.rowBytes ?? 10_000);
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${q(opts.database)} CHARACTER SET utf8mb4`);
  await conn.query(`DROP TABLE IF EXISTS ${table}`);
  await conn.query(`CREATE TABLE ${table} (${ddl.join(",\n  ")}) ENGINE=InnoDB`);
  const batch = 10_000;
  for (let start = 1; start <= n; start += batch) {
    const end = Math.min(n, start + batch - 1);
    await conn.query(`INSERT INTO ${table} SELECT ${exprs.join(", ")} FROM ${q(opts.database)}.seq_${start}_to_${end}`);
    opts.onProgress?.(end);
  }
}

/** Rows of about rowBytes (default 1 MiB): half in a LONGBLOB of random-looking bytes, half in a LONGTEXT. */
export async function createBigRows(conn: Connection, opts: GeneratedTableOptions): Promise<void> {
  const n = checkRows("createBigRows", opts.rows);
  const table = `${q(opts.database)}.${q(opts.table ?? "big_rows")}`;
  const half = Math.floor((opts.rowBytes ?? 1 << 20) / 2);
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${q(opts.database)} CHARACTER SET utf8mb4`);
  await conn.query(`DROP TABLE IF EXISTS ${table}`);
  await conn.query(`CREATE TABLE ${table} (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    payload LONGBLOB NOT NULL,
    body LONGTEXT NULL,
    created_at DATETIME(6) NOT NULL
  ) ENGINE=InnoDB`);
  // SHA2-512 is 64 bytes (UNHEX) or 128 hex characters; REPEAT of one digest compresses, so the blob repeats a
  // digest per 64 KiB block of a few rows' worth instead: still cheap to generate, not trivially compressible.
  const blob = `CONCAT(${Array.from({ length: 16 }, (_, k) => `REPEAT(UNHEX(SHA2(seq * 16 + ${k}, 512)), ${Math.max(1, Math.floor(half / 16 / 64))})`).join(", ")})`;
  const text = `IF(seq MOD 11 = 0, NULL, REPEAT(SHA2(seq, 512), ${Math.max(1, Math.floor(half / 128))}))`;
  const batch = 20;
  for (let start = 1; start <= n; start += batch) {
    const end = Math.min(n, start + batch - 1);
    await conn.query(`INSERT INTO ${table}
      SELECT seq * 1000 + IF(seq MOD 7 = 0, 18446744073709000000, 0), CONCAT('row-', seq), ${blob}, ${text},
        TIMESTAMP('2024-01-01') + INTERVAL seq MINUTE
      FROM ${q(opts.database)}.seq_${start}_to_${end}`);
    opts.onProgress?.(end);
  }
}
