import assert from "node:assert/strict";
import { test } from "node:test";
import { poolSpec } from "../../config/pool-spec.ts";
import type { ExportRecord, NodeRecord, PartitionRecord } from "../../config/records.ts";
import { parseTableView } from "../../controller/http/export-section.ts";
import { renderPage } from "../../controller/http/page.ts";
import { readActivity, smoothedRate } from "../../controller/oncall/activity.ts";
import { keyFraction } from "../../controller/oncall/partitions.ts";
import { readStatus } from "../../controller/oncall/status.ts";
import { MemoryFleetStore } from "../../controller/store/memory-fleet-store.ts";
import { FakeClock } from "../../lib/clock.ts";
import type { Lease } from "../../lib/jobs/job-store.ts";
import { MemoryJobStore } from "../../lib/jobs/memory-job-store.ts";
import { chunk, plan } from "../contract/job-store.contract.ts";

// The status page's read model and HTML on in-memory stores and a FakeClock: one export of 4 partitions of keys
// 0..3999 in pool-1. node-a (spot, m6i.large, us-east-1a) commits 100 rows every 20 s on partition 0, completes it at
// +100 s and claims partition 1; partition 2 is quarantined by node-b (interrupted, m5.large, us-east-1b).

const POOL = "pool-1";
const ID = "e-page";

function node(n: Partial<NodeRecord> & Pick<NodeRecord, "instanceId">, launchedAt: string): NodeRecord {
  return {
    pool: POOL,
    generation: 1,
    lifecycle: "READY",
    instanceType: "m6i.large",
    zone: "us-east-1a",
    market: "spot",
    price: 0.0378,
    launchedAt,
    heartbeatAt: null,
    currentPartition: null,
    hostKeyFingerprint: null,
    terminatedAt: null,
    reason: null,
    exportId: ID,
    readyAt: launchedAt,
    retiringAt: null,
    drainingAt: null,
    version: 0,
    ...n,
  };
}

async function world() {
  const clock = new FakeClock(Date.parse("2026-01-01T00:00:00Z"));
  const jobs = new MemoryJobStore({ clock });
  const fleet = new MemoryFleetStore({ clock });
  await fleet.applyPool(
    poolSpec.parse({
      kind: "Pool",
      name: POOL,
      instanceTypes: ["m6i.large"],
      subnets: ["subnet-a"],
      imageId: "ami-0fake",
      capacity: { min: 0, max: 2 },
    }),
  );
  await jobs.createExport(plan(4, POOL, ID));
  const start = new Date(clock.now()).toISOString();
  await fleet.putNode(node({ instanceId: "node-a" }, start));
  await fleet.putNode(
    node(
      { instanceId: "node-b", lifecycle: "INTERRUPTED", instanceType: "m5.large", zone: "us-east-1b", reason: "spot interruption" },
      start,
    ),
  );
  const b = (await jobs.claimPartition(ID, 2, { pool: POOL, owner: "node-b", leaseMs: 60_000 })) as Lease;
  await jobs.fail(b, { error: "ER_LOCK_DEADLOCK: Deadlock found", maxAttempts: 1, backoffMs: 1000 });
  let lease = (await jobs.claimPartition(ID, 0, { pool: POOL, owner: "node-a", leaseMs: 600_000 })) as Lease;
  for (let i = 1; i <= 5; i++) {
    await clock.advance(20_000);
    lease = await jobs.checkpoint(lease, chunk(lease, [String(i * 200 - 1)], 100));
  }
  await jobs.complete(lease);
  const next = (await jobs.claimPartition(ID, 1, { pool: POOL, owner: "node-a", leaseMs: 600_000 })) as Lease;
  return { clock, jobs, fleet, next };
}

async function page(w: Awaited<ReturnType<typeof world>>, query = "") {
  const status = await readStatus({ jobs: w.jobs, fleet: w.fleet, clock: w.clock });
  const activity = await readActivity(w.jobs, status, { now: w.clock.now() });
  const html = renderPage({ world: status, activity }, { refreshSec: 10, table: parseTableView(new URLSearchParams(query)) });
  return { status, activity, html };
}

test("a busy node between two partitions keeps its rate, and the export's rate and ETA do not jump", async () => {
  const w = await world();
  const rates: number[] = [];
  const etas: number[] = [];
  for (const wait of [1_000, 4_000, 10_000]) {
    await w.clock.advance(wait);
    const { activity, status } = await page(w);
    // Old behaviour: the rate of the partition it holds now, claimed seconds ago with nothing committed: 0.
    assert.equal(status.snapshot.nodes.find((n) => n.instanceId === "node-a")?.rowsPerSec, 0);
    const nodeRate = activity.nodeRates.get("node-a") ?? 0;
    assert.ok(nodeRate > 3 && nodeRate < 7, `node-a at ${nodeRate} rows/s (5 rows/s committed)`);
    rates.push(activity.exports.get(ID)?.rowsPerSec ?? 0);
    etas.push(activity.exports.get(ID)?.etaSeconds ?? 0);
  }
  for (const r of rates) assert.ok(r > 3.5 && r < 6.5, `export rate ${r} stays near 5 rows/s: ${rates}`);
  assert.ok(Math.max(...rates) / Math.min(...rates) < 1.5, `rates over 15 s without a commit: ${rates}`);
  assert.ok(Math.max(...etas) / Math.min(...etas) < 1.2, `ETAs over 15 s without a commit: ${etas}`);
});

test("smoothedRate: steady commits read steady between them; nothing committed reads null", () => {
  const commits = Array.from({ length: 15 }, (_, i) => ({ at: (i + 1) * 20_000, rows: 1000 }));
  const at = (now: number) => smoothedRate(commits, { from: 0, now })?.rate ?? 0;
  const seen = [301_000, 305_000, 310_000, 319_000].map(at);
  for (const r of seen) assert.ok(r > 40 && r < 60, `~50 rows/s: ${seen}`);
  assert.equal(smoothedRate([], { from: 0, now: 60_000 }), null);
});

test("keyFraction: exact for integer keys (up to 2^64-1), null for keys with no linear measure", () => {
  const exp = {
    keyColumns: [{ name: "id", type: "uint", sqlType: "bigint unsigned" }],
    lowKey: ["0"],
    highWatermark: ["18446744073709551615"],
  };
  const p = { state: "LEASED", lo: ["9223372036854775808"], hi: null, cursor: ["13835058055282163711"] };
  // Only the fields keyFraction reads.
  assert.equal(keyFraction(exp as unknown as ExportRecord, p as unknown as PartitionRecord), 0.5);
  const text = { ...exp, keyColumns: [{ name: "code", type: "string", sqlType: "varchar(10)" }] };
  assert.equal(keyFraction(text as unknown as ExportRecord, p as unknown as PartitionRecord), null);
});

test("the page: a sortable, linkable partition table, a lifetime timeline, projected cost, grouped nodes and commands", async () => {
  const w = await world();
  await w.jobs.checkpoint(w.next, chunk(w.next, ["1499"], 100));
  await w.clock.advance(5_000);
  const { html } = await page(w);
  const table = /<table class="partitions" data-export="e-page" data-sorted="state">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? "";
  for (const n of [0, 1, 2, 3]) assert.match(table, new RegExp(`<a id="export-e-page-p-${n}" href="#export-e-page-p-${n}">${n}</a>`));
  assert.match(table, /start\.\.1000<\/span>.*?DONE.*?100\.0%/, "partition 0: range and cursor");
  assert.match(table, /1000\.\.2000<\/span>.*?LEASED.*?50\.0%.*?node-a/, "partition 1: cursor half way through its keys");
  assert.match(table, /QUARANTINED[\s\S]*?ER_LOCK_DEADLOCK[\s\S]*?<code class="cmd">spotferry retry e-page 2<\/code>/);
  const order = (h: string) => [...h.matchAll(/id="export-e-page-p-(\d)"/g)].map((m) => Number(m[1]));
  assert.deepEqual(order(table), [2, 1, 3, 0], "default: worst state first");
  assert.deepEqual(order((await page(w, "sort=attempts&dir=desc")).html), [2, 0, 1, 3]);
  assert.match(html, /href="\?sort=cursor#export-e-page-partitions"/);
  // Timeline from the plan (00:00:00) to now (00:01:45), first and last events labelled, the interruption marked.
  const svg = /<svg class="lifetime"[\s\S]*?<\/svg>/.exec(html)?.[0] ?? "";
  assert.match(svg, /data-event="first" data-at="2026-01-01T00:00:00.000Z"/);
  assert.match(svg, /data-event="last" data-at="2026-01-01T00:01:40.000Z"[\s\S]*?last: chunk committed 00:01:40/);
  assert.match(svg, /now 00:01:45 UTC \(1m45s\)/);
  assert.match(svg, /data-incident="quarantined"/);
  assert.match(svg, /data-incident="node-interrupted"/);
  // Spent so far is node-a's 105 s plus node-b's; the projection adds node-a's burn over the ETA.
  const projected = Number(/data-projected-cost="([^"]+)"/.exec(html)?.[1]);
  const spent = (2 * 0.0378 * 105) / 3600;
  assert.ok(projected > spent, `projected ${projected} > spent ${spent}`);
  assert.match(html, /<h3 class="nodegroup" data-zone="us-east-1a" data-type="m6i.large">/);
  assert.match(html, /<h3 class="nodegroup" data-zone="us-east-1b" data-type="m5.large">/);
  assert.match(html, /interrupted: spot interruption<\/span> <code class="cmd">spotferry node show node-b<\/code>/);
  assert.match(html, /<time datetime="2026-01-01T00:00:00.000Z" title="2026-01-01 00:00:00 UTC">1m45s ago<\/time>/);
  assert.ok(!/https?:\/\/(?!localhost)/.test(html.replace(/http-equiv/g, "")), "no external asset");
});
