/**
 * The benchmark users would run (issue 16 item 6): the whole product against the tools people compare it with, on the
 * same table in one run, interleaved (A B C D E, A B C D E ...; best of the repeats):
 *   A `mariadb --quick --batch -e 'SELECT * ...' > file`      (the C client)
 *   B `mydumper --threads 2 --rows 500000`                    (uncompressed SQL)
 *   C `mydumper --threads 2 --rows 500000 -c`
 *   D `spotferry export run --local --workers 2`, on B's table (the ratios against mydumper compare B, C with D)
 *   D' the same writing CSV, zstd (text next to mydumper's text)
 *   E `spotferry export run --local --workers 1`              (Parquet zstd, 1 partition; planning and finalize included)
 *   F `spotferry export run --local --workers 2`              (8 partitions)
 * over a generated call log (sparse BIGINT UNSIGNED ids, some above 2^53; mydumper 0.10.1 cannot chunk ids above 2^63,
 * so B, C and D read a copy with the top bit cleared), then the product with one agent over a wide
 * table (~100 columns, ~10 KB rows, TEXT and JSON) and a table of ~1 MB rows, for peak RSS per agent (target 300 MB).
 * Tables are generated once into `sf_bench_export` and reused (test/bench/lib/bench-tables.ts). Figures: wall s,
 * rows/s, ratios, CPU s per million rows by process (agents, controller, mysqld, the S3 store's Swift servers,
 * DynamoDB Local), peak RSS of the largest agent, DynamoDB write requests per GB written (a counting proxy in front of
 * DynamoDB Local). Asserts nothing about time; exits 1 only when something failed to run.
 *
 *   npm run bench -- export [--rows 5000000] [--repeat 2] [--wide-rows N] [--big-rows N] [--generate-only] [--no-mydumper]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import mysql from "mysql2/promise";
import { s3Client } from "../../lib/aws/s3.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { createStateTable, deleteStateTable } from "../../lib/dynamo/table.ts";
import { dropBucket } from "../helpers/temp-bucket.ts";
import { BENCH_DATABASE, type BenchTable, benchTableDefs, ensureBenchTables } from "./lib/bench-tables.ts";
import { startCountingProxy } from "./lib/dynamo-proxy.ts";
import { CSV_LABEL, printExtras, printMain, printRatios, SIGNED_SUFFIX } from "./lib/export-report.ts";
import { type Ctx, haveMydumper, type Measured, runCClient, runMydumper, runProduct } from "./lib/export-runners.ts";
import { stackServices } from "./lib/proc-sampler.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const log = (line: string) => process.stdout.write(`${line}\n`);

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through \`npm run bench -- export\` or source .spotferry/local.env`);
  return v;
}

function flags() {
  const args = process.argv.slice(2);
  const arg = (k: string) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const rows = Number(arg("--rows") ?? 5_000_000);
  const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.round(v)));
  return {
    rows,
    repeat: Number(arg("--repeat") ?? 2),
    // Scaled with --rows so the smoke run stays small; 100 k and 300 at the default 5 M.
    wideRows: Number(arg("--wide-rows") ?? clamp(rows / 50, 500, 100_000)),
    bigRows: Number(arg("--big-rows") ?? clamp(rows / 16_667, 10, 300)),
    generateOnly: args.includes("--generate-only"),
    /** Leave mydumper out (Debian's 0.10.1 can hang on this key: its rows then cost their timeouts). */
    noMydumper: args.includes("--no-mydumper"),
  };
}

/** mydumper from Debian when missing and root; otherwise say how and skip its rows. */
function ensureMydumper(): boolean {
  if (haveMydumper()) return true;
  if (process.getuid?.() !== 0) {
    log("mydumper is missing: `sudo apt-get install -y mydumper` (its rows are skipped)");
    return false;
  }
  log("installing mydumper (apt-get install -y mydumper)...");
  const r = spawnSync("apt-get", ["install", "-y", "mydumper"], { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) log(`apt-get install mydumper failed (exit ${r.status}); its rows are skipped`);
  return haveMydumper();
}

const uptime = () => spawnSync("uptime", { encoding: "utf8" }).stdout.trim();

async function main(): Promise<number> {
  const f = flags();
  log(`machine: ${cpus().length} cores; ${uptime()}`);
  const conn = await mysql.createConnection({
    host: env("SPOTFERRY_MYSQL_HOST"),
    port: Number(env("SPOTFERRY_MYSQL_PORT")),
    user: env("SPOTFERRY_MYSQL_USER"),
    password: env("SPOTFERRY_MYSQL_PASSWORD"),
  });
  let tables: BenchTable[];
  try {
    tables = await ensureBenchTables(
      conn,
      benchTableDefs({ callLogRows: f.rows, wideRows: f.wideRows, bigRows: f.bigRows, signedCopy: !f.noMydumper }),
      log,
    );
  } finally {
    await conn.end();
  }
  for (const t of tables)
    log(
      `table ${BENCH_DATABASE}.${t.name}: ${t.rows.toLocaleString("en-US")} rows, ${(t.bytes / 2 ** 20).toFixed(0)} MiB on disk, ` +
        `~${t.textRowBytes.toLocaleString("en-US")} B/row as text (InnoDB: ~${t.avgRowBytes.toLocaleString("en-US")})${t.generatedSecs === null ? " (reused)" : ` (generated in ${t.generatedSecs.toFixed(1)} s)`}`,
    );
  if (f.generateOnly) return 0;
  const withMydumper = !f.noMydumper && ensureMydumper();

  const tag = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
  const ddb = dynamoClient();
  const s3 = s3Client();
  const stateTable = `sf-bench-export-${tag}`;
  const bucket = `sf-bench-export-${tag}`;
  const proxy = await startCountingProxy(env("AWS_ENDPOINT_URL_DYNAMODB"));
  const tmp = mkdtempSync(join(tmpdir(), "spotferry-export-bench-"));
  const services = stackServices(join(root, ".spotferry"));
  const missing = Object.entries(services).filter(([, pids]) => pids.length === 0);
  if (missing.length) log(`note: no pids found for ${missing.map(([k]) => k).join(", ")}; their CPU shows as 0`);
  const ctx: Ctx = { root, env: { ...process.env }, database: BENCH_DATABASE, services, proxy, s3, bucket, stateTable, tmp, tag };
  const results: Measured[] = [];
  try {
    await createStateTable(ddb, stateTable);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const rows = f.rows;
    const callLog = (tables.find((t) => t.kind === "call_log") as BenchTable).name;
    const signedLog = tables.find((t) => t.kind === "call_log_signed")?.name ?? callLog;
    const clientTimeout = 60_000 + rows * 0.2;
    const productTimeout = 120_000 + rows * 0.4;
    // mydumper 0.10.1 (Debian 12) can hang before its first chunk on this key (BIGINT UNSIGNED up to 2^64-1) with
    // --rows: idle connections, client-side chunking. Bounded so a hang costs minutes, and reported as a failure.
    const mydumperTimeout = 60_000 + rows * 0.02;
    for (let k = 1; k <= f.repeat; k++) {
      log(`\nround ${k}/${f.repeat}`);
      const step = async (m: Promise<Measured>) => {
        const r = await m;
        log(`  ${r.name.padEnd(44)} ${r.wall.toFixed(2).padStart(8)} s${r.failed ? `  FAILED: ${r.failed}` : ""}`);
        results.push(r);
      };
      await step(runCClient(ctx, callLog, clientTimeout));
      if (withMydumper) {
        // On the signed copy (mydumper cannot chunk the original's key), next to the product on the same copy.
        await step(runMydumper(ctx, { table: signedLog, rows, compress: false, timeoutMs: mydumperTimeout }));
        await step(runMydumper(ctx, { table: signedLog, rows, compress: true, timeoutMs: mydumperTimeout * 3 }));
        const twoAgents = { table: signedLog, workers: 2, partitions: 8, rows, timeoutMs: productTimeout };
        await step(runProduct(ctx, { ...twoAgents, label: `spotferry export run --local --workers 2 ${SIGNED_SUFFIX}` }));
        // Text next to mydumper's text: CSV, zstd-1 (uncompressed CSV ran at 0.33x: the S3 path's cost per byte).
        const csv = { format: "csv", compression: "zstd" } as const;
        await step(
          runProduct(ctx, { ...twoAgents, output: csv, label: `spotferry export run --local --workers 2, ${CSV_LABEL} ${SIGNED_SUFFIX}` }),
        );
      }
      await step(
        runProduct(ctx, {
          table: callLog,
          workers: 1,
          partitions: 1,
          rows,
          timeoutMs: productTimeout,
          label: "spotferry export run --local --workers 1",
        }),
      );
      await step(
        runProduct(ctx, {
          table: callLog,
          workers: 2,
          partitions: 8,
          rows,
          timeoutMs: productTimeout,
          label: "spotferry export run --local --workers 2",
        }),
      );
    }
    log("\nlarge rows (product, 1 agent, 1 partition)");
    const extras: Measured[] = [];
    for (const t of tables.filter((x) => !x.kind.startsWith("call_log"))) {
      const r = await runProduct(ctx, {
        table: t.name,
        workers: 1,
        partitions: 1,
        rows: t.rows,
        timeoutMs: 120_000 + t.textRowBytes * t.rows * 0.0004,
        label: `export run --workers 1: ${t.kind}`,
      });
      log(`  ${r.name.padEnd(44)} ${r.wall.toFixed(2).padStart(8)} s${r.failed ? `  FAILED: ${r.failed}` : ""}`);
      extras.push(r);
    }
    log(`\nNode ${process.version}; ${cpus().length} cores; ${uptime()}`);
    log(`${BENCH_DATABASE}.${callLog}: ${rows.toLocaleString("en-US")} rows; best of ${f.repeat} (interleaved); CPU s per million rows\n`);
    printMain(log, results, (tables.find((t) => t.kind === "call_log") as BenchTable).textRowBytes);
    printRatios(log, results);
    printExtras(log, extras, tables);
    results.push(...extras);
  } finally {
    await proxy.close();
    await dropBucket(s3, bucket).catch((e) => log(`dropping bucket ${bucket}: ${e}`));
    await deleteStateTable(ddb, stateTable).catch(() => {});
    ddb.destroy();
    s3.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
  const failed = results.filter((r) => r.failed);
  return failed.length ? 1 : 0;
}

process.exitCode = await main();
