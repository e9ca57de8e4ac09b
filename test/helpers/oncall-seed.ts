import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { exportSpec } from "../../config/export-spec.ts";
import { poolSpec } from "../../config/pool-spec.ts";
import type { NodeRecord } from "../../config/records.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { FakeClock } from "../../lib/clock.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import type { Lease, NewExport } from "../../lib/jobs/job-store.ts";
import { seedSchedules } from "./oncall-seed-schedules.ts";

/**
 * A deterministic on-call world in a state table: every timestamp comes from a FakeClock walked forward through a
 * script, so the CLI run with SPOTFERRY_NOW=NOW prints the same bytes every time. What it holds (NOW = 03:00 UTC):
 * - calls-2026 (pool etl-spot, 12 partitions of 1 M rows): 0-5 DONE; 6 running on i-0a1; 7 leased by i-0a2, whose
 *   lease expired 5 min ago (not reaped, node silent); 8 QUARANTINED after 3 attempts (first owner i-0a3 interrupted);
 *   9 in retry backoff; 10 just claimed by i-0a5 (on-demand); 11 PENDING.
 * - orders-eu (pool eu-pool, which has no nodes): 3 PENDING partitions, no progress for 2 h.
 * - users-old SUCCEEDED, audit-log CANCELLED (one partition parked by its holder), billing FAILED.
 * - etl-spot rotated from generation 1 to 2 (i-0a4 drained), and i-0a3 lost to a spot interruption.
 * - two incremental schedules, calls-5m (three committed runs) and billing-5m (a run failed by schema drift under
 *   policy freeze): see oncall-seed-schedules.ts.
 */
export const NOW = "2026-03-02T03:00:00.000Z";
const DAY = "2026-03-02T";
const at = (hhmmss: string) => Date.parse(`${DAY}${hhmmss}Z`);
const LEASE = 60_000;

function spec(name: string, pool: string, table: string) {
  return exportSpec.parse({
    kind: "Export",
    name,
    pool,
    source: { user: "reader", database: "shop", table },
    destination: { bucket: "exports", prefix: "oncall/", format: "parquet" },
  });
}

function newExport(id: string, pool: string, table: string, parts: number, rows: number): NewExport {
  return {
    exportId: id,
    spec: spec(id, pool, table),
    keyColumns: [{ name: "id", type: "uint", sqlType: "bigint(20) unsigned" }],
    keyIndex: "PRIMARY",
    lowKey: ["1"],
    highWatermark: [String(parts * rows)],
    partitions: Array.from({ length: parts }, (_, i) => ({
      lo: i === 0 ? null : [String(i * rows + 1)],
      hi: i === parts - 1 ? null : [String((i + 1) * rows + 1)],
      estimatedRows: rows,
    })),
  };
}

function node(n: Partial<NodeRecord> & Pick<NodeRecord, "instanceId" | "launchedAt">): NodeRecord {
  return {
    pool: "etl-spot",
    generation: 2,
    lifecycle: "READY",
    instanceType: "m6i.large",
    zone: "us-east-1a",
    market: "spot",
    price: 0.04,
    heartbeatAt: null,
    currentPartition: null,
    hostKeyFingerprint: null,
    terminatedAt: null,
    reason: null,
    exportId: "calls-2026",
    readyAt: null,
    retiringAt: null,
    drainingAt: null,
    version: 0,
    ...n,
  };
}

export async function seedOncallWorld(client: DynamoDBClient, tableName: string): Promise<void> {
  const clock = new FakeClock(at("00:50:00"));
  const jobs = new DynamoJobStore({ client, tableName, clock });
  const fleet = new DynamoFleetStore({ client, tableName, clock });
  const leases = new Map<string, Lease>();
  const claim = async (id: string, n: number, owner: string) => {
    const l = await jobs.claimPartition(id, n, { pool: (await jobs.getPartition(id, n))?.pool ?? "", owner, leaseMs: LEASE });
    if (!l) throw new Error(`seed: could not claim ${id}/${n}`);
    leases.set(`${id}/${n}`, l);
  };
  const lease = (id: string, n: number) => leases.get(`${id}/${n}`) as Lease;
  const chunk = async (id: string, n: number, rows: number) => {
    const l = lease(id, n);
    // Keys are dense integers here: a chunk starts right after the cursor (or at lo) and covers `rows` keys.
    const base = l.cursor ? Number(l.cursor[0]) : Number(l.lo?.[0] ?? "1") - 1;
    const next = await jobs.checkpoint(
      l,
      {
        seq: l.chunks + 1,
        objectKey: `oncall/${id}/p${n}/c${l.chunks + 1}-e${l.epoch}.parquet`,
        rows,
        bytes: rows * 48,
        sha256: "0".repeat(64),
        firstKey: [String(base + 1)],
        lastKey: [String(base + rows)],
      },
      { leaseMs: LEASE },
    );
    leases.set(`${id}/${n}`, next);
  };
  const fail = async (id: string, n: number, error: string, maxAttempts: number, backoffMs: number) =>
    jobs.fail(lease(id, n), { error, maxAttempts, backoffMs });

  const steps: [string, () => Promise<unknown>][] = [
    [
      "00:50:00",
      () =>
        fleet.applyPool(
          poolSpec.parse({
            kind: "Pool",
            name: "etl-spot",
            instanceTypes: ["m6i.large", "m5.large"],
            subnets: ["subnet-a", "subnet-b"],
            imageId: "ami-0sim",
            capacity: { min: 0, max: 6 },
          }),
        ),
    ],
    [
      "00:50:01",
      () =>
        fleet.applyPool(
          poolSpec.parse({
            kind: "Pool",
            name: "eu-pool",
            instanceTypes: ["m6i.large"],
            subnets: ["subnet-c"],
            imageId: "ami-0sim",
            capacity: { min: 0, max: 4 },
          }),
        ),
    ],
    ["00:51:00", () => jobs.createExport(newExport("users-old", "etl-spot", "users", 2, 50_000))],
    ["00:52:00", () => jobs.createExport(newExport("billing", "etl-spot", "billing", 2, 100_000))],
    ["00:55:00", () => jobs.createExport(newExport("calls-2026", "etl-spot", "call_log", 12, 1_000_000))],
    ["00:56:00", () => jobs.createExport(newExport("orders-eu", "eu-pool", "orders", 3, 200_000))],
    ["00:57:00", () => jobs.createExport(newExport("audit-log", "etl-spot", "audit_log", 2, 500_000))],
    // users-old: done quickly, finalized.
    ["01:01:00", () => claim("users-old", 0, "i-0a4")],
    ["01:01:30", () => claim("users-old", 1, "i-0a3")],
    ["01:02:00", () => chunk("users-old", 0, 50_000)],
    ["01:02:30", () => chunk("users-old", 1, 50_000)],
    ["01:03:00", () => jobs.complete(lease("users-old", 0))],
    ["01:03:30", () => jobs.complete(lease("users-old", 1))],
    ["01:04:00", () => jobs.setExportState("users-old", { from: ["RUNNING"], to: "FINALIZING" })],
    [
      "01:05:00",
      () =>
        jobs.setExportState("users-old", {
          from: ["FINALIZING"],
          to: "SUCCEEDED",
          manifestKey: "oncall/users-old/_manifest.json",
          rowsExported: 100_000,
          bytesExported: 4_800_000,
        }),
    ],
    // calls-2026 partition 8: interrupted, then fails three times and is quarantined.
    ["01:05:10", () => claim("calls-2026", 8, "i-0a3")],
    ["01:07:00", () => chunk("calls-2026", 8, 250_000)],
    ["01:09:00", () => jobs.release(lease("calls-2026", 8), { interrupted: true, detail: "spot instance-action: terminate at 01:11:00" })],
    ["01:12:00", () => claim("calls-2026", 8, "i-0a4")],
    ["01:13:00", () => fail("calls-2026", 8, "ER_LOCK_DEADLOCK: Deadlock found when trying to get lock", 3, 60_000)],
    ["01:20:00", () => claim("calls-2026", 8, "i-0a4")],
    ["01:21:00", () => fail("calls-2026", 8, "ER_LOCK_DEADLOCK: Deadlock found when trying to get lock", 3, 60_000)],
    ["01:40:00", () => fleet.bumpGeneration("etl-spot")],
    ["01:41:00", () => claim("calls-2026", 8, "i-0a1")],
    ["01:42:00", () => fail("calls-2026", 8, "ER_LOCK_DEADLOCK: Deadlock found when trying to get lock", 3, 60_000)],
    ["01:43:00", () => fleet.addPoolCounters("etl-spot", { interruptions: 1, replacements: 2 })],
    // billing: failed by the controller.
    [
      "02:30:00",
      () =>
        jobs.setExportState("billing", {
          from: ["RUNNING"],
          to: "FAILED",
          error: "source table shop.billing was dropped (ER_NO_SUCH_TABLE)",
        }),
    ],
    // audit-log: cancelled while partition 0 ran; its holder parked it at the next chunk boundary.
    ["02:00:00", () => claim("audit-log", 0, "i-0a1")],
    ["02:01:00", () => chunk("audit-log", 0, 100_000)],
    ["02:10:00", () => jobs.cancelExport("audit-log", { reason: "wrong date range" })],
    ["02:11:00", () => jobs.release(lease("audit-log", 0), { park: true, detail: "export is CANCELLED" })],
    // calls-2026 partition 9: failed once, waiting out its backoff until 03:11.
    ["02:40:00", () => claim("calls-2026", 9, "i-0a1")],
    ["02:41:00", () => fail("calls-2026", 9, "Lost connection to MySQL server during query", 5, 1_800_000)],
    // calls-2026 partition 7: i-0a2 went silent; its lease expired at 02:55 and nobody reaped it.
    ["02:40:30", () => claim("calls-2026", 7, "i-0a2")],
    ["02:44:00", () => chunk("calls-2026", 7, 50_000)],
    ["02:54:00", async () => leases.set("calls-2026/7", await jobs.heartbeat(lease("calls-2026", 7), LEASE))],
    // calls-2026 partition 6: running on i-0a1, 50k rows every ~3 minutes.
    ["02:50:00", () => claim("calls-2026", 6, "i-0a1")],
    ["02:51:00", () => chunk("calls-2026", 6, 50_000)],
    ["02:54:00", () => chunk("calls-2026", 6, 50_000)],
    ["02:57:00", () => chunk("calls-2026", 6, 50_000)],
    ["02:59:00", () => chunk("calls-2026", 6, 50_000)],
    ["02:59:30", async () => leases.set("calls-2026/6", await jobs.heartbeat(lease("calls-2026", 6), LEASE))],
    ["02:59:40", () => claim("calls-2026", 10, "i-0a5")],
    ["02:59:50", () => fleet.acquireLeadership("controller-a:4242", 30_000)],
  ];
  // Partitions 0-5: one every 15 minutes, four 250k-row chunks each (0-1 by i-0a4 before its drain, then i-0a1).
  for (let n = 0; n < 6; n++) {
    const done = at("01:20:00") + n * 15 * 60_000;
    const owner = n < 2 ? "i-0a4" : "i-0a1";
    const t = (ms: number) => new Date(done - ms).toISOString().slice(11, 19);
    steps.push([t(12 * 60_000), () => claim("calls-2026", n, owner)]);
    for (let c = 0; c < 4; c++) steps.push([t((10 - 3 * c) * 60_000), () => chunk("calls-2026", n, 250_000)]);
    steps.push([t(0), () => jobs.complete(lease("calls-2026", n))]);
  }
  steps.sort((a, b) => a[0].localeCompare(b[0]));
  for (const [time, step] of steps) {
    clock.set(at(time));
    await step();
  }

  const nodes: NodeRecord[] = [
    node({
      instanceId: "i-0a1",
      launchedAt: `${DAY}01:30:00.000Z`,
      readyAt: `${DAY}01:31:00.000Z`,
      heartbeatAt: `${DAY}02:59:30.000Z`,
      currentPartition: "calls-2026#6",
    }),
    node({
      instanceId: "i-0a2",
      launchedAt: `${DAY}01:32:00.000Z`,
      readyAt: `${DAY}01:33:00.000Z`,
      heartbeatAt: `${DAY}02:54:00.000Z`,
      zone: "us-east-1b",
      instanceType: "m5.large",
      price: 0.038,
      currentPartition: "calls-2026#7",
    }),
    node({
      instanceId: "i-0a5",
      launchedAt: `${DAY}01:45:00.000Z`,
      readyAt: `${DAY}01:46:00.000Z`,
      heartbeatAt: `${DAY}02:59:40.000Z`,
      market: "on-demand",
      price: 0.096,
    }),
    node({
      instanceId: "i-0a3",
      generation: 1,
      lifecycle: "TERMINATED",
      launchedAt: `${DAY}00:58:00.000Z`,
      readyAt: `${DAY}00:59:00.000Z`,
      heartbeatAt: `${DAY}01:08:00.000Z`,
      terminatedAt: `${DAY}01:11:00.000Z`,
      reason: "spot interruption (instance-terminated-by-service)",
      zone: "us-east-1b",
    }),
    node({
      instanceId: "i-0a4",
      generation: 1,
      lifecycle: "TERMINATED",
      launchedAt: `${DAY}00:58:00.000Z`,
      readyAt: `${DAY}00:59:00.000Z`,
      heartbeatAt: `${DAY}01:35:00.000Z`,
      drainingAt: `${DAY}01:50:00.000Z`,
      terminatedAt: `${DAY}01:52:00.000Z`,
      reason: "rotation: generation 1 < 2",
    }),
  ];
  for (const n of nodes) await fleet.putNode(n);
  await seedSchedules(client, tableName);
}
