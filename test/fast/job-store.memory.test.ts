import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../lib/clock.ts";
import { digest } from "../../lib/dynamo/keys.ts";
import { newPartition } from "../../lib/jobs/memory-create.ts";
import { MemoryJobStore, MemoryJobTable } from "../../lib/jobs/memory-job-store.ts";
import { putPartition } from "../../lib/jobs/memory-table.ts";
import { DEFAULT_QUEUE_SHARDS } from "../../lib/jobs/semantics.ts";
import { type CrashedCreate, chunk, jobStoreContract, plan } from "../contract/job-store.contract.ts";

// The JobStore contract against the in-memory backend, with no service: every store the harness opens shares one
// table, as the DynamoDB run's stores share one DynamoDB table.
jobStoreContract("MemoryJobStore", async () => {
  const table = new MemoryJobTable();
  return {
    open: (clock) => new MemoryJobStore({ clock, table }),
    close: async () => {},
    partitionBytes: async (exportId, n) => JSON.stringify(table.partitions.get(exportId)?.get(n) ?? null).length,
    // The table's raw entries a crash after the header and the unqueued partitions of an older plan would leave.
    seedCrashedCreate: async (c: CrashedCreate) => {
      const ctx = { table, clock: { now: () => Date.parse(c.at), sleep: async () => {} }, shards: DEFAULT_QUEUE_SHARDS };
      const record = {
        ...{ exportId: c.exportId, spec: c.spec, state: "PLANNING" as const, keyColumns: c.keyColumns, keyIndex: "PRIMARY" },
        ...{ lowKey: c.partitions[0]?.lo ?? null, highWatermark: c.partitions.at(-1)?.hi ?? null, partitionCount: c.partitions.length },
        ...{ estimatedRows: c.partitions.reduce((s, x) => s + x.estimatedRows, 0), rowsExported: 0, bytesExported: 0 },
        ...{ planHash: "old", queued: false, createdAt: c.at, updatedAt: c.at },
      };
      table.exports.set(c.exportId, { record, specHash: digest(c.spec) });
      for (const [n, x] of c.partitions.entries()) {
        putPartition(ctx, newPartition(ctx, { exportId: c.exportId, partition: n, pool: c.spec.pool, ...x }, { planHash: "old" }));
      }
    },
  };
});

test("MemoryJobStore copies records in and out: callers mutating what they passed or got change nothing", async () => {
  const store = new MemoryJobStore({ clock: new FakeClock() });
  const p = plan(2);
  await store.createExport(p);
  (p.partitions[0] as { hi: string[] | null }).hi?.push("mutated");
  p.spec.pool = "elsewhere";
  const lease = await store.claimPartition(p.exportId, 0, { pool: p.spec.pool, owner: "a", leaseMs: 1000 });
  assert.ok(lease);
  const c = chunk(lease, ["10"]);
  const after = await store.checkpoint(lease, c);
  c.lastKey.push("mutated");
  after.cursor?.push("mutated");
  const got = await store.getPartition(p.exportId, 0);
  assert.ok(got);
  got.hi?.push("mutated");
  got.state = "DONE";
  const events = await store.listEvents(p.exportId, 0);
  (events.items[0] as { kind: string }).kind = "completed";
  const exp = await store.getExport(p.exportId);
  if (exp) exp.spec.pool = "elsewhere";
  const rec = await store.getPartition(p.exportId, 0);
  assert.deepEqual([rec?.state, rec?.hi, rec?.cursor], ["LEASED", ["1000"], ["10"]]);
  assert.equal((await store.listEvents(p.exportId, 0)).items[0]?.kind, "claimed");
  assert.equal((await store.getExport(p.exportId))?.spec.pool, lease.pool);
  assert.equal((await store.listChunks(p.exportId, 0)).items[0]?.lastKey.length, 1);
});
