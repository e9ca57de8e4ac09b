import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { poolSpec } from "../../config/pool-spec.ts";
import type { NodeRecord, SourceKey } from "../../config/records.ts";
import { controllerSettings } from "../../config/settings.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import { MysqlSplitFinder } from "../../controller/planner/split-points.ts";
import type { ReconcileContext } from "../../controller/reconcilers/context.ts";
import { splitting } from "../../controller/reconcilers/splitting.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { FakeClock } from "../../lib/clock.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { type ExportFixture, exportFixture } from "../helpers/export-fixture.ts";

/**
 * Splitting against the real source (MariaDB) and job store (DynamoDB Local): the split key is the median key of the
 * remainder as the index sees it, the two halves cover exactly the old range, and nothing is split while work is
 * still pending, when no node is idle, or when the remainder is small. The agent's side (RangeChangedError on its
 * next checkpoint, re-read up to the new hi) is covered by the agent fault tests and the end-to-end rehearsal.
 */
let f: ExportFixture;
let exportId: string;
const clock = new FakeClock(Date.parse("2026-03-01T00:00:00Z"));
const finder = new MysqlSplitFinder();

before(async () => {
  // 60k rows in 2 partitions of 30k; chunks of 1k rows, so the 4-chunk minimum is 4k rows.
  f = await exportFixture({ rows: 60_000, targetRows: 30_000, chunkRows: 1_000, clock });
  const conn = await openSource(f.spec.source);
  try {
    const plan = await planExport(f.spec, { conn, clock });
    exportId = exportIdFor(f.spec);
    await f.store.createExport(toNewExport(exportId, f.spec, plan));
  } finally {
    await conn.end();
  }
});
after(async () => {
  await finder.close();
  await f?.cleanup();
});

function context(splitMinRows = 1): { ctx: ReconcileContext; logs: string[]; fleet: DynamoFleetStore } {
  const logs: string[] = [];
  const fleet = new DynamoFleetStore({ client: f.ddb, tableName: f.tableName, clock });
  // Splitting reads only the stores, the settings and the source: the cloud, templates and finalize are not used.
  const ctx = {
    clock,
    fleet,
    jobs: f.store,
    settings: controllerSettings.parse({ stateTable: f.tableName, splitMinRows }),
    splitter: finder,
    log: (l: string) => logs.push(l),
    wake: () => {},
  } as unknown as ReconcileContext;
  return { ctx, logs, fleet };
}

const node = (pool: string, instanceId: string): NodeRecord => ({
  pool,
  instanceId,
  generation: 1,
  lifecycle: "READY",
  instanceType: "m5.large",
  zone: "us-east-1a",
  market: "spot",
  price: 0.04,
  launchedAt: new Date(clock.now()).toISOString(),
  heartbeatAt: null,
  currentPartition: null,
  hostKeyFingerprint: null,
  terminatedAt: null,
  reason: null,
  exportId: null,
  readyAt: new Date(clock.now()).toISOString(),
  retiringAt: null,
  drainingAt: null,
  version: 0,
});

/** Keys of the source in [lo, hi) (after `cursor` when given), in key order, as exact text. */
async function keysIn(lo: SourceKey | null, hi: SourceKey | null, cursor: SourceKey | null = null): Promise<string[]> {
  const where: string[] = [];
  const params: string[] = [];
  if (cursor) {
    where.push("id > CAST(? AS UNSIGNED)");
    params.push(cursor[0]!);
  } else if (lo) {
    where.push("id >= CAST(? AS UNSIGNED)");
    params.push(lo[0]!);
  }
  if (hi) {
    where.push("id < CAST(? AS UNSIGNED)");
    params.push(hi[0]!);
  }
  const [rows] = await f.conn.query({
    sql: `SELECT CAST(id AS CHAR) AS k FROM \`${f.database}\`.call_log ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id`,
    values: params,
  });
  return (rows as { k: string }[]).map((r) => r.k);
}

test("an idle node gets the larger half of the biggest remainder, split at the median key of the source's index", async () => {
  const { ctx, logs, fleet } = context();
  await fleet.applyPool(
    poolSpec.parse({
      kind: "Pool",
      name: f.spec.pool,
      instanceTypes: ["m5.large"],
      subnets: ["subnet-a"],
      imageId: "ami-0sim",
      capacity: { max: 4 },
    }),
  );
  for (const id of ["i-a", "i-b", "i-c"]) await fleet.putNode(node(f.spec.pool, id));

  // Pending work exists: nothing is split.
  const a = await f.store.claim({ pool: f.spec.pool, owner: "i-a", leaseMs: 600_000 });
  assert.ok(a);
  await splitting(ctx);
  assert.equal((await f.store.getExport(exportId))?.partitionCount, 2, "no split while a partition is PENDING");

  // i-a commits 3 chunks of its partition; i-b takes the other one. i-c is idle and nothing is pending.
  let lease = a;
  const own = await keysIn(a.lo, a.hi);
  for (let seq = 1; seq <= 3; seq++) {
    const chunk = own.slice((seq - 1) * 1000, seq * 1000);
    lease = await f.store.checkpoint(lease, {
      seq,
      objectKey: `x/${seq}`,
      rows: chunk.length,
      bytes: 1,
      sha256: "0".repeat(64),
      firstKey: [chunk[0]!],
      lastKey: [chunk.at(-1)!],
    });
  }
  const b = await f.store.claim({ pool: f.spec.pool, owner: "i-b", leaseMs: 600_000 });
  assert.ok(b);

  await splitting(ctx);
  const parts = (await f.store.listPartitions(exportId)).items;
  assert.equal(parts.length, 3, `one split for the one idle node; log: ${logs.join("; ")}`);
  const created = parts[2]!;
  assert.equal(created.state, "PENDING");
  assert.equal(created.splitFrom, b.partition, "the untouched partition (largest remainder) is the one split");
  const kept = parts[b.partition]!;
  assert.deepEqual(kept.hi, created.lo, "the owner keeps [lo, at), the new partition is [at, hi)");
  assert.deepEqual(created.hi, b.hi);
  assert.equal(kept.owner, "i-b");

  // The split key is a real key, in the middle of the remainder by row count, and the halves cover the range exactly.
  const before = await keysIn(b.lo, b.hi);
  const left = await keysIn(kept.lo, kept.hi);
  const right = await keysIn(created.lo, created.hi);
  assert.ok(before.includes(created.lo![0]!), "the split key exists in the source");
  assert.equal(left.length + right.length, before.length);
  assert.deepEqual([...left, ...right], before);
  assert.ok(Math.abs(left.length - right.length) <= 1, `halves ${left.length} / ${right.length}`);
  assert.equal(created.estimatedRows, right.length);
  assert.match(logs.join("\n"), new RegExp(`split partition ${b.partition} of .* for idle nodes`));

  // Now nothing is idle (the new partition waits for i-c): no further split.
  await splitting(ctx);
  assert.equal((await f.store.listPartitions(exportId)).items.length, 3);

  // i-c claims the new partition and i-d joins idle: the biggest remainder is now i-a's (27k rows left, after its
  // cursor), split after the cursor at the median of what is left.
  const c = await f.store.claim({ pool: f.spec.pool, owner: "i-c", leaseMs: 600_000 });
  assert.equal(c?.partition, 2);
  await fleet.putNode(node(f.spec.pool, "i-d"));
  await splitting(ctx);
  const after = (await f.store.listPartitions(exportId)).items;
  assert.equal(after.length, 4, `log: ${logs.join("; ")}`);
  const second = after[3]!;
  assert.equal(second.splitFrom, a.partition);
  const remainder = await keysIn(a.lo, a.hi, lease.cursor);
  const upTo = await keysIn(null, second.lo, lease.cursor);
  assert.equal(upTo.length, Math.floor(remainder.length / 2), "the key is half-way through the rows after the cursor");
  assert.deepEqual(after[a.partition]!.cursor, lease.cursor, "the owner's cursor and chunks are kept");
  assert.equal(after[a.partition]!.chunks, 3);
});

test("small remainders are not split: the owner would redo a chunk to save less than four", async () => {
  const { ctx } = context(1_000_000);
  const before = (await f.store.getExport(exportId))?.partitionCount;
  await new DynamoFleetStore({ client: f.ddb, tableName: f.tableName, clock }).putNode(node(f.spec.pool, "i-e"));
  await splitting(ctx);
  assert.equal((await f.store.getExport(exportId))?.partitionCount, before);
});
