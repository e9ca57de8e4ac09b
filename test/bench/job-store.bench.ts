/**
 * Benchmark (a script, not a test; prints figures, asserts nothing about time):
 *   1. JobStore on DynamoDB Local: claims per second under concurrent claimers, and conditional write requests per
 *      committed chunk (checkpoints extend the lease, so an agent needs no separate heartbeat while chunks flow).
 *   2. Planner on MariaDB: planning a skewed table (default 10M rows) next to a full COUNT(*) of it, in the same run.
 *
 *   set -a; . .spotferry/local.env; set +a
 *   node test/bench/job-store.bench.ts [--rows N] [--partitions N] [--claimers N] [--chunks N]
 * SPOTFERRY_BENCH_ROWS=1000000 also sets the table size (quick runs).
 */
import { parseArgs } from "node:util";
import { exportSpec } from "../../config/export-spec.ts";
import { planExport } from "../../controller/planner/plan.ts";
import { systemClock } from "../../lib/clock.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import type { Lease } from "../../lib/jobs/job-store.ts";
import { openSource, queryText } from "../../lib/mysql/connect.ts";
import { quoteIdent } from "../../lib/mysql/key-sql.ts";
import { chunk, plan } from "../contract/job-store.contract.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";
import { mysqlEnv, tempDatabase } from "../helpers/temp-mysql.ts";

const { values: args } = parseArgs({
  options: {
    rows: { type: "string" },
    partitions: { type: "string", default: "400" },
    claimers: { type: "string", default: "32" },
    chunks: { type: "string", default: "400" },
    "skip-planner": { type: "boolean", default: false },
  },
});
const ROWS = Number(args.rows ?? process.env.SPOTFERRY_BENCH_ROWS ?? 10_000_000);
const PARTITIONS = Number(args.partitions);
const CLAIMERS = Number(args.claimers);
const CHUNKS = Number(args.chunks);

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmt = (x: number, d = 0) => x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

async function benchStore(): Promise<void> {
  const t = await tempStateTable("bench");
  try {
    const store = new DynamoJobStore({ client: t.client, tableName: t.tableName, clock: systemClock });
    const p = plan(PARTITIONS);
    await store.createExport(p);

    store.resetStats();
    const leases: Lease[] = [];
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLAIMERS }, async (_, i) => {
        for (;;) {
          const l = await store.claim({ pool: p.spec.pool, owner: `bench-${i}`, leaseMs: 60_000 });
          if (!l) return;
          leases.push(l);
        }
      }),
    );
    const claimMs = performance.now() - started;
    const s = store.stats;
    const distinct = new Set(leases.map((l) => l.partition)).size;
    console.log(`claims: ${PARTITIONS} partitions, ${CLAIMERS} concurrent claimers`);
    console.log(
      `  ${fmt(leases.length)} claims (${distinct} distinct) in ${secs(claimMs)}: ${fmt((leases.length * 1000) / claimMs, 1)} claims/s`,
    );
    console.log(
      `  per claim: ${fmt(s.transactions / leases.length, 2)} transactions, ${fmt(s.reads / leases.length, 2)} reads, ` +
        `${fmt(s.conflictRetries / leases.length, 2)} conflict retries`,
    );

    // Sequential commits on one partition, the way one agent works, with a heartbeat every 10 chunks for comparison.
    const one = leases[0] as Lease;
    store.resetStats();
    let l = one;
    const t0 = performance.now();
    for (let i = 1; i <= CHUNKS; i++) {
      l = await store.checkpoint(l, chunk(l, [String(i)], 500_000), { leaseMs: 60_000 });
      if (i % 10 === 0) l = await store.heartbeat(l, 60_000);
    }
    const seqMs = performance.now() - t0;
    const c = store.stats;
    console.log(`checkpoints: ${CHUNKS} chunks on one partition, each extending the lease, plus a heartbeat every 10 chunks`);
    console.log(`  ${fmt((CHUNKS * 1000) / seqMs, 1)} checkpoints/s sequential`);
    console.log(
      `  conditional write requests per committed chunk: ${fmt((c.transactions + c.conditionalWrites) / CHUNKS, 2)} ` +
        `(${fmt(c.transactions / CHUNKS, 2)} transactions of ${fmt(c.transactionItems / Math.max(1, c.transactions), 1)} items + ` +
        `${fmt(c.conditionalWrites / CHUNKS, 2)} heartbeats); reads per chunk ${fmt(c.reads / CHUNKS, 2)}`,
    );

    // Many agents committing at once, one partition each.
    const parallel = leases.slice(1, 1 + Math.min(32, leases.length - 1));
    const per = Math.max(1, Math.floor(CHUNKS / 4));
    store.resetStats();
    const t1 = performance.now();
    await Promise.all(
      parallel.map(async (lease) => {
        let x = lease;
        for (let i = 1; i <= per; i++) x = await store.checkpoint(x, chunk(x, [String(i)], 500_000), { leaseMs: 60_000 });
      }),
    );
    const parMs = performance.now() - t1;
    console.log(`  ${fmt((parallel.length * per * 1000) / parMs, 1)} checkpoints/s with ${parallel.length} partitions committing at once`);
  } finally {
    await t.drop();
  }
}

async function benchPlanner(): Promise<void> {
  const db = await tempDatabase("bench");
  const env = mysqlEnv();
  const spec = exportSpec.parse({
    kind: "Export",
    name: "bench",
    source: {
      host: env.host,
      port: env.port,
      user: env.user,
      password: { env: "SPOTFERRY_MYSQL_PASSWORD" },
      database: db.name,
      table: "calls",
    },
    destination: { bucket: "bench-bucket" },
    partitioning: { targetRows: Math.max(1000, Math.floor(ROWS / 50)), maxPartitions: 10_000 },
  });
  const conn = await openSource(spec.source);
  try {
    await conn.query(`USE ${quoteIdent(db.name)}`);
    await conn.query(
      "CREATE TABLE calls (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, caller INT NOT NULL, seconds INT NOT NULL, note CHAR(16) NOT NULL) ENGINE=InnoDB",
    );
    const g0 = performance.now();
    // Skew: 40% dense from 1, 40% a dense cluster at 10^12, 15% spread with huge gaps past 2^53, 5% just under 2^64.
    const parts: [number, string][] = [
      [Math.floor(ROWS * 0.4), "seq"],
      [Math.floor(ROWS * 0.4), "1000000000000 + seq"],
      [Math.floor(ROWS * 0.15), "9007199254740992 + seq * 1000000000"],
    ];
    parts.push([ROWS - parts.reduce((a, [n]) => a + n, 0), "18446744073709551615 - seq"]);
    for (const [n, expr] of parts) {
      for (let from = 1; from <= n; from += 1_000_000) {
        const to = Math.min(n, from + 999_999);
        await conn.query(`INSERT INTO calls SELECT ${expr}, seq % 100003, seq % 3600, 'call' FROM seq_${from}_to_${to}`);
      }
    }
    console.log(`planner: generated ${fmt(ROWS)} skewed rows in ${secs(performance.now() - g0)}`);

    const count = async () => {
      const c0 = performance.now();
      const rows = await queryText(conn, { sql: "SELECT COUNT(*) FROM calls", params: [] });
      return { ms: performance.now() - c0, n: Number(rows[0]?.[0]) };
    };
    const first = await count();
    const p0 = performance.now();
    const result = await planExport(spec, { conn, clock: systemClock });
    const planMs = performance.now() - p0;
    const second = await count();
    const countMs = Math.min(first.ms, second.ms);
    const sizes = result.partitions.map((p) => p.estimatedRows).sort((a, b) => a - b);
    const median = sizes[Math.floor((sizes.length - 1) / 2)] ?? 0;
    console.log(`  COUNT(*): ${fmt(first.n)} rows in ${secs(first.ms)} (cold-ish), ${secs(second.ms)} (after planning)`);
    console.log(
      `  plan: ${result.partitions.length} partitions of ~${fmt(result.step)} rows, ${result.dives} index dives, ` +
        `${fmt(result.rows)} rows counted, in ${secs(planMs)}`,
    );
    console.log(`  plan time / COUNT(*) time: ${fmt(planMs / countMs, 2)}x`);
    console.log(
      `  partition sizes: max/median ${fmt((sizes.at(-1) ?? 0) / Math.max(1, median), 3)} (min ${fmt(sizes[0] ?? 0)}, max ${fmt(sizes.at(-1) ?? 0)})`,
    );
    if (result.rows !== first.n) console.log(`  MISMATCH: the plan counted ${result.rows} rows, COUNT(*) ${first.n}`);
  } finally {
    await conn.end();
    await db.drop();
  }
}

await benchStore();
if (!args["skip-planner"]) await benchPlanner();
