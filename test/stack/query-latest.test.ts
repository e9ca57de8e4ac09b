import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { exportSpec } from "../../config/export-spec.ts";
import { finalizeExport } from "../../controller/finalize/finalize.ts";
import { latestKey, readLatestPointer } from "../../controller/query/latest.ts";
import { FakeClock } from "../../lib/clock.ts";
import { MemoryJobStore } from "../../lib/jobs/memory-job-store.ts";
import { tempBucket } from "../helpers/temp-bucket.ts";

// The `<prefix><name>/_latest.json` pointer finalize writes after the manifest: it names the newest export of the
// spec name (by plan time), a late finalize of an older export leaves it alone, and a re-run of a finished export's
// finalize writes the same bytes again. Exports without partitions keep this to the pointer itself.

let temp: Awaited<ReturnType<typeof tempBucket>>;
before(async () => {
  temp = await tempBucket("latest");
});
after(() => temp?.drop());

test("the pointer names the newest export; an older one finalizing later does not move it back; re-runs rewrite it", async () => {
  const clock = new FakeClock(Date.parse("2026-03-01T00:00:00Z"));
  const store = new MemoryJobStore({ clock });
  const plan = async (id: string, table: string) => {
    const spec = exportSpec.parse({
      kind: "Export",
      name: "orders",
      source: { user: "u", database: "d", table },
      destination: { bucket: temp.bucket, prefix: "lake" },
    });
    await store.createExport({
      exportId: id,
      spec,
      keyColumns: [],
      keyIndex: "PRIMARY",
      lowKey: null,
      highWatermark: null,
      partitions: [],
    });
    await clock.advance(60_000);
  };
  // Planned in this order; the ids sort the other way, so plan time (not the id) must decide.
  await plan("orders-ffff0000", "t1");
  await plan("orders-0000ffff", "t2");
  const deps = { store, s3: temp.s3, clock, schema: async () => [] };
  const key = latestKey("lake", "orders");
  assert.equal(key, "lake/orders/_latest.json");

  await finalizeExport(deps, "orders-0000ffff");
  const first = await readLatestPointer(temp.s3, temp.bucket, key);
  assert.equal(first?.exportId, "orders-0000ffff");
  assert.equal(first?.manifest, "lake/orders-0000ffff/_manifest.json");
  assert.equal(first?.format, "parquet");
  assert.equal(first?.rows, 0);

  await clock.advance(60_000);
  await finalizeExport(deps, "orders-ffff0000");
  assert.deepEqual(await readLatestPointer(temp.s3, temp.bucket, key), first, "the older export's late finalize left the pointer");
  assert.equal((await store.getExport("orders-ffff0000"))?.state, "SUCCEEDED");

  // Re-run on a SUCCEEDED export: same bytes again, also after the pointer was lost.
  await finalizeExport(deps, "orders-0000ffff");
  assert.deepEqual(await readLatestPointer(temp.s3, temp.bucket, key), first);
  await temp.s3.send(new DeleteObjectCommand({ Bucket: temp.bucket, Key: key }));
  await clock.advance(60_000);
  await finalizeExport(deps, "orders-0000ffff");
  assert.deepEqual(await readLatestPointer(temp.s3, temp.bucket, key), first, "rebuilt from the manifest, identical");
});
