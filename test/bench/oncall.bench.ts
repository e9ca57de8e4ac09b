import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { exportSpec } from "../../config/export-spec.ts";
import { poolSpec } from "../../config/pool-spec.ts";
import { fullLedger, readPartitions } from "../../controller/oncall/reads.ts";
import { readStatus } from "../../controller/oncall/status.ts";
import { whyExport, whyPartition } from "../../controller/oncall/why.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { DynamoScheduleStore } from "../../controller/store/dynamo-schedule-store.ts";
import { systemClock } from "../../lib/clock.ts";
import { mapLimit } from "../../lib/dynamo/access.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import type { NewExport } from "../../lib/jobs/job-store.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/**
 * How fast the on-call read commands answer for one export of 10,000 partitions (the bar: about a second).
 * Seeds a state table (DynamoDB Local) with the export, 40 nodes, 40 running partitions with a few checkpoints each,
 * 500 done and 20 quarantined, then times the read model behind each command (median of --runs), and the whole CLI
 * once for `status --json` (process start included). A script printing figures, not a test: it asserts nothing.
 *   npm run bench -- oncall [--partitions 10000] [--runs 5]
 */
const { values } = parseArgs({ options: { partitions: { type: "string", default: "10000" }, runs: { type: "string", default: "5" } } });
const PARTS = Number(values.partitions);
const RUNS = Number(values.runs);
const NODES = 40;

const t = await tempStateTable("oncall-bench");
const clock = systemClock;
const jobs = new DynamoJobStore({ client: t.client, tableName: t.tableName, clock });
const fleet = new DynamoFleetStore({ client: t.client, tableName: t.tableName, clock });
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

try {
  let start = process.hrtime.bigint();
  await fleet.applyPool(
    poolSpec.parse({
      kind: "Pool",
      name: "bench",
      instanceTypes: ["m6i.large"],
      subnets: ["subnet-a"],
      imageId: "ami-0sim",
      capacity: { max: NODES },
    }),
  );
  const input: NewExport = {
    exportId: "big",
    spec: exportSpec.parse({
      kind: "Export",
      name: "big",
      pool: "bench",
      source: { user: "u", database: "db", table: "calls" },
      destination: { bucket: "bench-bucket", format: "parquet" },
    }),
    keyColumns: [{ name: "id", type: "uint", sqlType: "bigint(20) unsigned" }],
    keyIndex: "PRIMARY",
    lowKey: ["0"],
    highWatermark: [String(PARTS * 100_000)],
    partitions: Array.from({ length: PARTS }, (_, i) => ({
      lo: i ? [String(i * 100_000)] : null,
      hi: i === PARTS - 1 ? null : [String((i + 1) * 100_000)],
      estimatedRows: 100_000,
    })),
  };
  await jobs.createExport(input);
  const now = new Date().toISOString();
  for (let i = 0; i < NODES; i++) {
    await fleet.putNode({
      ...{
        pool: "bench",
        instanceId: `i-${String(i).padStart(4, "0")}`,
        generation: 1,
        lifecycle: "READY",
        instanceType: "m6i.large",
        zone: "us-east-1a",
      },
      ...{
        market: "spot",
        price: 0.04,
        launchedAt: now,
        heartbeatAt: now,
        currentPartition: null,
        hostKeyFingerprint: null,
        terminatedAt: null,
      },
      ...{ reason: null, exportId: "big", readyAt: now, retiringAt: null, drainingAt: null, version: 0 },
    });
  }
  const work = async (n: number, owner: string, chunks: number) => {
    let l = await jobs.claimPartition("big", n, { pool: "bench", owner, leaseMs: 600_000 });
    if (!l) throw new Error(`claiming ${n}`);
    for (let c = 0; c < chunks; c++) {
      const base = n * 100_000 + c * 1000;
      l = await jobs.checkpoint(l, {
        seq: l.chunks + 1,
        objectKey: `k/${n}/${c}`,
        rows: 1000,
        bytes: 48_000,
        sha256: "0".repeat(64),
        firstKey: [String(base)],
        lastKey: [String(base + 999)],
      });
    }
    return l;
  };
  // 500 done, 20 quarantined, 40 running (one per node) with 3 chunks each.
  await mapLimit(
    Array.from({ length: 500 }, (_, i) => i),
    8,
    async (n) => jobs.complete(await work(n, `i-${String(n % NODES).padStart(4, "0")}`, 2)),
  );
  await mapLimit(
    Array.from({ length: 20 }, (_, i) => 500 + i),
    8,
    async (n) => jobs.fail(await work(n, "i-0000", 0), { error: "boom", maxAttempts: 1, backoffMs: 1000 }),
  );
  await mapLimit(
    Array.from({ length: NODES }, (_, i) => i),
    8,
    async (i) => work(600 + i, `i-${String(i).padStart(4, "0")}`, 3),
  );
  // Three incremental schedules with ten committed runs each (status shows the newest five of each).
  const schedules = new DynamoScheduleStore({ client: t.client, tableName: t.tableName, clock });
  for (const name of ["s-a", "s-b", "s-c"]) {
    await schedules.ensureSchedule(name);
    await schedules.acquireLease(name, "bench", 600_000);
    for (let seq = 1; seq <= 10; seq++) {
      const drift = { policy: "evolve" as const, changes: [], action: "none" as const, message: "no schema change" };
      const run = {
        lo: seq === 1 ? null : String(seq * 1000),
        hi: String((seq + 1) * 1000),
        runAt: `2026-01-01T00-${String(seq).padStart(2, "0")}`,
      };
      await schedules.startRun(name, "bench", {
        seq,
        ...run,
        sourceRows: 1000,
        dbNow: "2026-01-01 00:00:00",
        schema: [],
        columns: [],
        drift,
      });
      await schedules.commitRun(name, "bench", seq, {
        state: "COMMITTED",
        rows: 1000,
        bytes: 48_000,
        quality: [],
        manifestKey: `m/${seq}`,
      });
    }
  }
  console.log(
    `seeded ${PARTS} partitions, ${NODES} nodes, 3 schedules x 10 runs in ${(ms(start) / 1000).toFixed(1)} s (table ${t.tableName})`,
  );

  const deps = { jobs, fleet, clock, schedules };
  const timings: [string, () => Promise<unknown>][] = [
    ["status (readStatus: all partitions, leased ledgers, fleet)", () => readStatus(deps)],
    [
      "exports (listExports + readStatus of them)",
      async () => readStatus(deps, { exportIds: (await jobs.listExports({ limit: 20 })).map((e) => e.exportId) }),
    ],
    [
      "export show (progress + every partition, two scans)",
      async () => Promise.all([jobs.progress("big"), readPartitions(jobs, (await jobs.getExport("big"))!)]),
    ],
    [
      "partition show (partition + chunks + full ledger)",
      () => Promise.all([jobs.getPartition("big", 600), jobs.listChunks("big", 600), fullLedger(jobs, "big", 600)]),
    ],
    ["nodes / node show (readStatus)", () => readStatus(deps)],
    [
      "why ID (readStatus of one export + diagnosis)",
      async () => whyExport(await readStatus(deps, { exportIds: ["big"] }), "big", clock.now()),
    ],
    [
      "why ID N (readStatus of one export + ledger + diagnosis)",
      async () => {
        const w = await readStatus(deps, { exportIds: ["big"] });
        const p = w.partitions.get("big")?.[510];
        return p && whyPartition(w, p, await fullLedger(jobs, "big", 510), clock.now());
      },
    ],
    ["  (for comparison) one sequential Query walk of all partitions", () => jobs.progress("big")],
  ];
  console.log(`\nmedian of ${RUNS} runs, in-process (DynamoDB Local on 127.0.0.1):`);
  for (const [name, fn] of timings) {
    await fn(); // warm-up: connections, JIT
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      start = process.hrtime.bigint();
      await fn();
      runs.push(ms(start));
    }
    runs.sort((a, b) => a - b);
    console.log(
      `  ${name.padEnd(62)} ${String(Math.round(runs[Math.floor(RUNS / 2)] ?? 0)).padStart(6)} ms  (min ${Math.round(runs[0] ?? 0)}, max ${Math.round(runs.at(-1) ?? 0)})`,
    );
  }
  const cli = join(import.meta.dirname, "..", "..", "bin", "spotferry.mjs");
  const env = { ...process.env, SPOTFERRY_STATE_TABLE: t.tableName };
  for (const args of [["status", "--json"], ["--help"]]) {
    start = process.hrtime.bigint();
    try {
      execFileSync(process.execPath, [cli, ...args], { env, stdio: "ignore" });
    } catch {
      // status exits 4 when something needs a human (the 20 quarantined partitions); the time is what matters here.
    }
    console.log(`  CLI wall time: spotferry ${args.join(" ").padEnd(46)} ${String(Math.round(ms(start))).padStart(6)} ms`);
  }
  console.log("  (`--help` is the CLI's start-up cost alone; `npm run bench -- cli-startup` has the figures next to node -e 0)");
} finally {
  await t.drop();
}
