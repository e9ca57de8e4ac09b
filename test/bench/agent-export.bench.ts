/**
 * End-to-end agent benchmark against the local stack (`set -a; . .spotferry/local.env; set +a`): a generated call-log
 * table (sim/data/call-log.ts) read by the C client and by one agent pipeline, in the same run:
 *   (a) `mariadb --quick --batch -e 'SELECT * FROM db.call_log' > file`   (the C client baseline)
 *   (b) MysqlSource.read over the whole key range -> createEncoder -> startChunkUpload to the local S3 store, in chunks
 *       of 500k rows one after the other (as the agent does), for Parquet and NDJSON.gz.
 * Every pipeline variant runs in its own child process so its peak RSS (sampled every 100 ms; worker threads are
 * in-process, so included) is its own. Prints rows/s, MB/s, CPU seconds and the ratio to the C client. Never asserts
 * times. The database and the bucket are removed at the end.
 *
 *   node test/bench/agent-export.bench.ts [--rows 5000000] [--only parquet,ndjson] [--repeat 1]
 */
import { spawn, spawnSync } from "node:child_process";
import { statSync, unlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import mysql from "mysql2/promise";
import { s3Client } from "../../lib/aws/s3.ts";
import { systemClock } from "../../lib/clock.ts";
import { MysqlSource } from "../../lib/mysql/range-source.ts";
import type { EncoderOptions, OutputFormat } from "../../lib/output/encode/index.ts";
import { createEncoder, type Row } from "../../lib/output/encode/index.ts";
import { startChunkUpload } from "../../lib/output/sink.ts";
import { createCallLog } from "../../sim/data/call-log.ts";

const CHUNK_ROWS = 500_000;
const COLUMNS = ["id", "customer_id", "caller", "callee", "started_at", "duration_s", "cost", "status", "notes"];

interface Variant {
  name: string;
  format: OutputFormat;
  opts: EncoderOptions;
}
const variants: Variant[] = [
  { name: "parquet zstd (worker)", format: "parquet", opts: { compression: "zstd" } },
  { name: "parquet gzip-1 (worker)", format: "parquet", opts: { compression: "gzip" } },
  { name: "ndjson gzip-1", format: "ndjson", opts: { compression: "gzip" } },
];

interface Result {
  name: string;
  rows: number;
  secs: number;
  bytes: number;
  cpu: number;
  rss: number;
  /** RSS when the pipeline starts (Node + the modules loaded), MB. */
  rss0: number;
}

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: source .spotferry/local.env first`);
  return v;
}

/** Peak RSS of this process (all its threads), sampled every 100 ms. */
function rssSampler(): () => number {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);
  return () => {
    clearInterval(t);
    return Math.max(peak, process.memoryUsage().rss) / 2 ** 20;
  };
}

/** One agent pipeline over the whole table; runs in a child process. */
async function pipeline(v: Variant, database: string, bucket: string): Promise<Result> {
  const source = await MysqlSource.open({
    spec: {
      host: env("SPOTFERRY_MYSQL_HOST"),
      port: Number(env("SPOTFERRY_MYSQL_PORT")),
      user: env("SPOTFERRY_MYSQL_USER"),
      password: { env: "SPOTFERRY_MYSQL_PASSWORD" },
      database,
      table: "call_log",
      maxConnections: 2,
      timezone: "Z",
    },
    keyColumns: [{ name: "id", type: "uint", sqlType: "bigint(20) unsigned" }],
    columns: COLUMNS,
    filter: null,
    clock: systemClock,
  });
  const s3 = s3Client();
  const rss0 = process.memoryUsage().rss / 2 ** 20;
  const peak = rssSampler();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const columns = await source.columns();
  const reader = source.read({ lo: null, hi: null, cursor: null, highWatermark: null });
  let rows = 0;
  let bytes = 0;
  let carry: Row[] | null = null;
  for (let seq = 1; ; seq++) {
    const first: Row[] | null = carry ?? (await reader.next());
    carry = null;
    if (!first) break;
    const enc = createEncoder(v.format, columns, v.opts);
    const upload = startChunkUpload(s3, `bench/chunk-${String(seq).padStart(6, "0")}${enc.extension}`, enc.output, enc.contentType, {
      bucket,
    });
    let n = 0;
    for (let batch: Row[] | null = first; batch; ) {
      const room = CHUNK_ROWS - n;
      if (batch.length > room) {
        carry = batch.slice(room);
        batch = batch.slice(0, room);
      }
      await enc.write(batch);
      n += batch.length;
      if (carry || n >= CHUNK_ROWS) break;
      batch = await reader.next();
    }
    await enc.end();
    bytes += (await upload.done()).bytes;
    rows += n;
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await source.close();
  return { name: v.name, rows, secs, bytes, cpu: (cpu.user + cpu.system) / 1e6, rss: peak(), rss0 };
}

/** The C client writing the table to a file; its CPU is the child's (client only, the server is shared by all). */
function cClient(database: string): Result {
  const file = `/tmp/spotferry-bench-${process.pid}.tsv`;
  const sql = `SELECT * FROM \`${database}\`.call_log`;
  const t0 = performance.now();
  const r = spawnSync(
    "bash",
    [
      "-c",
      `mariadb --quick --batch -h"$SPOTFERRY_MYSQL_HOST" -P"$SPOTFERRY_MYSQL_PORT" -u"$SPOTFERRY_MYSQL_USER" -p"$SPOTFERRY_MYSQL_PASSWORD" -e "$0" > "$1"; times`,
      sql,
      file,
    ],
    { encoding: "utf8" },
  );
  const secs = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`mariadb client failed: ${r.stderr}`);
  // `times` prints the shell's and its children's user/system times; the second line is the children's.
  const child = (r.stdout.trim().split("\n").pop() ?? "").match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/);
  const cpu = child ? Number(child[1]) * 60 + Number(child[2]) + Number(child[3]) * 60 + Number(child[4]) : Number.NaN;
  const bytes = statSync(file).size;
  const lines = Number(spawnSync("wc", ["-l", file], { encoding: "utf8" }).stdout.trim().split(/\s+/)[0]);
  unlinkSync(file);
  return { name: "C client: mariadb --quick --batch > file", rows: lines - 1, secs, bytes, cpu, rss: Number.NaN, rss0: Number.NaN };
}

function runChild(v: Variant, database: string, bucket: string): Promise<Result> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, self, "--child", v.name, "--db", database, "--bucket", bucket], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    p.on("close", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (code !== 0 || !line.startsWith("{")) reject(new Error(`${v.name}: child exited ${code}`));
      else resolve(JSON.parse(line) as Result);
    });
  });
}

/** Each pipeline is compared with the C client run just before it. */
function print(results: Result[]): void {
  let baseRate = Number.NaN;
  console.log(
    ["variant".padEnd(42), "rows", "rows/s", "MB/s", "MB", "CPU s", "wall s", "peak RSS MB", "vs C client"]
      .map((h, i) => (i === 0 ? h : h.padStart(i === 7 ? 12 : 10)))
      .join(" "),
  );
  for (const r of results) {
    const rate = r.rows / r.secs;
    if (r.name.startsWith("C client")) baseRate = rate;
    console.log(
      [
        r.name.padEnd(42),
        String(r.rows).padStart(10),
        Math.round(rate).toLocaleString("en-US").padStart(10),
        (r.bytes / 1e6 / r.secs).toFixed(1).padStart(10),
        (r.bytes / 1e6).toFixed(1).padStart(10),
        r.cpu.toFixed(2).padStart(10),
        r.secs.toFixed(2).padStart(10),
        (Number.isNaN(r.rss) ? "-" : r.rss.toFixed(0)).padStart(12),
        `${(rate / baseRate).toFixed(2)}x`.padStart(10),
      ].join(" "),
    );
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (k: string) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const childName = arg("--child");
  if (childName) {
    const v = variants.find((x) => x.name === childName);
    if (!v) throw new Error(`no variant ${childName}`);
    const r = await pipeline(v, arg("--db") as string, arg("--bucket") as string);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const rows = Number(arg("--rows") ?? 5_000_000);
  const repeat = Number(arg("--repeat") ?? 1);
  const only = arg("--only")?.split(",");
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const database = `sf_bench_${tag.replace(/-/g, "_")}`;
  const bucket = `sf-bench-${tag}`;
  const conn = await mysql.createConnection({
    host: env("SPOTFERRY_MYSQL_HOST"),
    port: Number(env("SPOTFERRY_MYSQL_PORT")),
    user: env("SPOTFERRY_MYSQL_USER"),
    password: env("SPOTFERRY_MYSQL_PASSWORD"),
  });
  const s3 = s3Client();
  try {
    const t0 = performance.now();
    await createCallLog(conn, { database, rows });
    console.log(`generated ${rows} call-log rows in ${((performance.now() - t0) / 1000).toFixed(1)} s (${database}.call_log)`);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const results: Result[] = [];
    for (let k = 0; k < repeat; k++) {
      // Interleaved, so a burst of load from other work on the machine hits every variant alike.
      results.push(cClient(database));
      for (const v of variants) if (!only || only.some((o) => v.name.includes(o))) results.push(await runChild(v, database, bucket));
    }
    console.log(`\nNode ${process.version}, chunks of ${CHUNK_ROWS} rows to s3://${bucket} (local store)`);
    print(results);
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS \`${database}\``).catch((e) => console.error("drop database:", e));
    await conn.end();
    for (;;) {
      const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => null);
      if (!list?.Contents?.length) break;
      for (const o of list.Contents) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
    }
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
  }
}

await main();
