/**
 * Encoder benchmark on generated call-log rows (test/bench/call-log-rows.ts), each variant in its own child process so
 * peak RSS is its own. Prints rows/s, output MB/s, CPU seconds (process.cpuUsage, all threads) and peak RSS, and the
 * ratio to baselines measured in the same run: generating the rows only, and JSON.stringify of the same rows.
 * Never asserts times.
 *
 *   node test/bench/encode.bench.ts [--rows 1000000] [--only name,name]
 *
 * Candidate libraries (for the record in lib/output/encode/README.md) are measured only if installed:
 *   hyparquet-writer, @dsnp/parquetjs, @duckdb/node-api (appender + COPY TO parquet).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createEncoder } from "../../lib/output/encode/index.ts";
import { callLogBatches, callLogColumns } from "./call-log-rows.ts";

type Variant = { name: string; run: (rows: number) => Promise<number> };

async function drain(enc: ReturnType<typeof createEncoder>, rows: number): Promise<number> {
  let bytes = 0;
  const reading = (async () => {
    for await (const b of enc.output) bytes += (b as Buffer).length;
  })();
  for (const batch of callLogBatches(rows)) await enc.write(batch);
  await enc.end();
  await reading;
  return bytes;
}

const mk =
  (format: "parquet" | "ndjson" | "csv", opts: Parameters<typeof createEncoder>[2]) =>
  (rows: number): Promise<number> =>
    drain(createEncoder(format, callLogColumns, opts), rows);

async function optional<T>(name: string): Promise<T | null> {
  try {
    return (await import(name)) as T;
  } catch {
    return null;
  }
}

const variants: Variant[] = [
  {
    name: "baseline: generate rows",
    run: async (n) => {
      let c = 0;
      for (const b of callLogBatches(n)) c += b.length;
      return c * 0;
    },
  },
  {
    name: "baseline: JSON.stringify rows",
    run: async (n) => {
      let bytes = 0;
      for (const b of callLogBatches(n)) for (const r of b) bytes += JSON.stringify(r).length;
      return bytes;
    },
  },
  {
    name: "spotferry parquet zstd (worker)",
    run: mk("parquet", { compression: "zstd" }),
  },
  {
    name: "spotferry parquet snappy (worker)",
    run: mk("parquet", { compression: "snappy" }),
  },
  {
    name: "spotferry parquet zstd (inline)",
    run: mk("parquet", { compression: "zstd", threads: "inline" }),
  },
  {
    name: "spotferry parquet gzip-1 (worker)",
    run: mk("parquet", { compression: "gzip" }),
  },
  {
    name: "spotferry parquet none (worker)",
    run: mk("parquet", { compression: "none" }),
  },
  {
    name: "spotferry parquet zstd rg=131072",
    run: mk("parquet", { compression: "zstd", rowGroupRows: 131_072 }),
  },
  {
    name: "spotferry ndjson gzip-1",
    run: mk("ndjson", { compression: "gzip", gzipLevel: 1 }),
  },
  {
    name: "spotferry csv gzip-1",
    run: mk("csv", { compression: "gzip", gzipLevel: 1 }),
  },
  { name: "spotferry ndjson none", run: mk("ndjson", { compression: "none" }) },
  {
    name: "hyparquet-writer snappy (columnar JS)",
    run: async (n) => {
      const hw = await optional<any>("hyparquet-writer");
      if (!hw) return -1;
      let bytes = 0;
      const rg = 65_536;
      let cols: unknown[][] = callLogColumns.map(() => []);
      const flush = () => {
        const [id, cust, caller, callee, started, dur, cost, status, notes] = cols;
        const buf = hw.parquetWriteBuffer({
          columnData: [
            {
              name: "id",
              data: (id as (string | number)[]).map((v) => BigInt.asIntN(64, BigInt(v))),
              type: "INT64",
            },
            { name: "customer_id", data: cust, type: "INT32" },
            { name: "caller", data: caller, type: "STRING" },
            { name: "callee", data: callee, type: "STRING" },
            {
              name: "started_at",
              data: (started as string[]).map((s) => new Date(`${s.replace(" ", "T")}Z`)),
              type: "TIMESTAMP",
            },
            { name: "duration_s", data: dur, type: "INT32" },
            {
              name: "cost",
              data: (cost as string[]).map(Number),
              type: "DOUBLE",
            },
            { name: "status", data: status, type: "STRING" },
            { name: "notes", data: notes, type: "STRING" },
          ],
        }) as ArrayBuffer;
        bytes += buf.byteLength;
        cols = callLogColumns.map(() => []);
      };
      for (const b of callLogBatches(n)) {
        for (const r of b) for (let j = 0; j < r.length; j++) (cols[j] as unknown[]).push(r[j]);
        if ((cols[0] as unknown[]).length >= rg) flush();
      }
      if ((cols[0] as unknown[]).length) flush();
      return bytes;
    },
  },
  {
    name: "@dsnp/parquetjs snappy (row-oriented)",
    run: async (n) => {
      const pq = await optional<any>("@dsnp/parquetjs");
      if (!pq) return -1;
      const { Writable } = await import("node:stream");
      let bytes = 0;
      const sink = new Writable({
        write(c: Buffer, _e, cb) {
          bytes += c.length;
          cb();
        },
      });
      const schema = new pq.ParquetSchema({
        id: { type: "INT64" }, // its UINT_64 rejects values above 2^63-1
        customer_id: { type: "INT32" },
        caller: { type: "UTF8" },
        callee: { type: "UTF8" },
        started_at: { type: "TIMESTAMP_MICROS" },
        duration_s: { type: "INT32" },
        cost: { type: "DECIMAL", precision: 10, scale: 4 },
        status: { type: "UTF8" },
        notes: { type: "UTF8", optional: true },
      });
      const w = await pq.ParquetWriter.openStream(schema, sink, {
        rowGroupSize: 65_536,
        useDataPageV2: false,
      });
      const names = callLogColumns.map((c) => c.name);
      for (const b of callLogBatches(n)) {
        for (const r of b) {
          const o: Record<string, unknown> = {};
          for (let j = 0; j < names.length; j++) o[names[j] as string] = r[j];
          o.id = BigInt.asIntN(64, BigInt(r[0] as string)); // rejects > 2^63-1 otherwise
          o.started_at = BigInt(Date.parse(`${(r[4] as string).replace(" ", "T")}Z`)) * 1000n;
          o.cost = Number(r[6]);
          if (o.notes === null) delete o.notes;
          await w.appendRow(o);
        }
      }
      await w.close();
      return bytes;
    },
  },
  {
    name: "@duckdb/node-api appender + COPY zstd (native)",
    run: async (n) => {
      const duck = await optional<any>("@duckdb/node-api");
      if (!duck) return -1;
      const { statSync, rmSync } = await import("node:fs");
      const db = await duck.DuckDBInstance.create(":memory:", { threads: "2" });
      const c = await db.connect();
      await c.run(
        "CREATE TABLE t (id UBIGINT, customer_id INTEGER, caller VARCHAR, callee VARCHAR, started_at TIMESTAMP, duration_s INTEGER, cost DECIMAL(10,4), status VARCHAR, notes VARCHAR)",
      );
      const a = await c.createAppender("t");
      for (const b of callLogBatches(n)) {
        for (const r of b) {
          a.appendUBigInt(BigInt(r[0] as string));
          a.appendInteger(r[1]);
          a.appendVarchar(r[2]);
          a.appendVarchar(r[3]);
          a.appendVarchar(r[4]); // DuckDB casts the text
          a.appendInteger(r[5]);
          a.appendVarchar(r[6]);
          a.appendVarchar(r[7]);
          if (r[8] === null) a.appendNull();
          else a.appendVarchar(r[8]);
          a.endRow();
        }
      }
      a.closeSync();
      const file = `/tmp/spotferry-bench-${process.pid}.parquet`;
      await c.run(`COPY t TO '${file}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 65536)`);
      const size = statSync(file).size;
      rmSync(file);
      return size;
    },
  },
];

async function child(name: string, rows: number): Promise<void> {
  const v = variants.find((x) => x.name === name);
  if (!v) throw new Error(`no variant ${name}`);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const bytes = await v.run(rows);
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const rss = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ name, rows, secs, bytes, cpu: (cpu.user + cpu.system) / 1e6, rss })}\n`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (k: string) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const rows = Number(arg("--rows") ?? 1_000_000);
  const child1 = arg("--child");
  if (child1) return child(child1, rows);
  const only = arg("--only")?.split(",");
  const self = fileURLToPath(import.meta.url);
  type Result = {
    name: string;
    rows: number;
    secs: number;
    bytes: number;
    cpu: number;
    rss: number;
  };
  const results: Result[] = [];
  for (const v of variants) {
    if (only && !only.some((o) => v.name.includes(o))) continue;
    const r = spawnSync(process.execPath, [...process.execArgv, self, "--child", v.name, "--rows", String(rows)], {
      encoding: "utf8",
      maxBuffer: 1 << 24,
    });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    if (r.status !== 0 || !line.startsWith("{")) {
      console.log(`${v.name}: failed (${r.status}) ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
      continue;
    }
    const res = JSON.parse(line) as Result;
    if (res.bytes < 0) {
      console.log(`${v.name}: not installed, skipped`);
      continue;
    }
    results.push(res);
  }
  const base = results.find((r) => r.name.startsWith("baseline: JSON"));
  const gen = results.find((r) => r.name.startsWith("baseline: generate"));
  console.log(`\n${rows} call-log rows, Node ${process.version}`);
  console.log(
    [
      "variant".padEnd(48),
      "rows/s".padStart(10),
      "MB/s out".padStart(9),
      "MB out".padStart(8),
      "CPU s".padStart(6),
      "wall s".padStart(7),
      "RSS MB".padStart(7),
      "vs JSON".padStart(8),
      "enc-only rows/s".padStart(16),
    ].join(" "),
  );
  for (const r of results) {
    const rps = r.rows / r.secs;
    const encOnly = gen && r !== gen ? r.rows / Math.max(1e-9, r.secs - gen.secs) : Number.NaN;
    console.log(
      [
        r.name.padEnd(48),
        Math.round(rps).toLocaleString("en-US").padStart(10),
        (r.bytes / 1e6 / r.secs).toFixed(1).padStart(9),
        (r.bytes / 1e6).toFixed(1).padStart(8),
        r.cpu.toFixed(2).padStart(6),
        r.secs.toFixed(2).padStart(7),
        r.rss.toFixed(0).padStart(7),
        (base ? `${(rps / (base.rows / base.secs)).toFixed(2)}x` : "-").padStart(8),
        (Number.isNaN(encOnly) ? "-" : Math.round(encOnly).toLocaleString("en-US")).padStart(16),
      ].join(" "),
    );
  }
}

await main();
