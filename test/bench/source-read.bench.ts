/**
 * Stream or keyset pages? Reads the same generated call-log table through mysql2 (rows as arrays, the agent's driver
 * options) both ways and discards the rows, in the same run:
 *   stream: one query over the whole key range, streamed with backpressure (what lib/mysql/range-source.ts does);
 *   pages:  keyset pages `WHERE id > ? ORDER BY id LIMIT n` (one index dive per page), for several page sizes.
 * Usage: node test/bench/source-read.bench.ts [--rows N]   (prints figures; asserts nothing)
 */
import mysql from "mysql2/promise";
import { MYSQL_SOURCE_OPTIONS } from "../../lib/output/encode/index.ts";
import { createCallLog } from "../../sim/data/call-log.ts";
import { mysqlOptions } from "../helpers/env.ts";

const rowsArg = process.argv.indexOf("--rows");
const rows = rowsArg > 0 ? Number(process.argv[rowsArg + 1]) : 2_000_000;
const database = `bench_source_${process.pid}`;
const conn = await mysql.createConnection({ ...mysqlOptions(), ...MYSQL_SOURCE_OPTIONS });
await createCallLog(conn, { database, rows });

async function timed(name: string, body: () => Promise<number>) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const n = await body();
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { name, n, s, rate: n / s, cpu: (cpu.user + cpu.system) / 1e6 };
}

const stream = () =>
  timed("stream (one query)", async () => {
    let n = 0;
    // The promise wrapper has no streaming; the callback connection underneath does.
    const raw = (conn as unknown as { connection: import("mysql2").Connection }).connection;
    const q = raw.query({ sql: `SELECT * FROM ${database}.call_log ORDER BY id`, rowsAsArray: true });
    await new Promise<void>((resolve, reject) => {
      q.stream({ highWaterMark: 2048 })
        .on("data", () => n++)
        .on("end", resolve)
        .on("error", reject);
    });
    return n;
  });

const pages = (size: number) =>
  timed(`keyset pages of ${size}`, async () => {
    let n = 0;
    let after = "-1";
    for (;;) {
      const [page] = await conn.query({
        sql: `SELECT * FROM ${database}.call_log WHERE id > CAST(? AS DECIMAL(20,0)) ORDER BY id LIMIT ${size}`,
        values: [after],
        rowsAsArray: true,
      });
      const list = page as unknown[][];
      if (list.length === 0) return n;
      n += list.length;
      after = String(list[list.length - 1]![0]);
    }
  });

try {
  await stream(); // warm-up: buffer pool, JIT; not reported
  const results = [await stream(), await pages(1_000), await pages(10_000), await pages(100_000), await stream()];
  const base = (results[0]!.rate + results[4]!.rate) / 2;
  console.log(
    `${"variant".padEnd(24)} ${"rows".padStart(9)} ${"rows/s".padStart(11)} ${"CPU s".padStart(7)} vs stream (mean of both runs)`,
  );
  for (const r of results) {
    console.log(
      `${r.name.padEnd(24)} ${String(r.n).padStart(9)} ${Math.round(r.rate).toLocaleString("en-US").padStart(11)} ${r.cpu.toFixed(2).padStart(7)} ${(r.rate / base).toFixed(2)}x`,
    );
  }
} finally {
  await conn.query(`DROP DATABASE IF EXISTS ${database}`);
  await conn.end();
}
