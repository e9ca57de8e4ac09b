import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { type ExportSpec, exportSpec } from "../../config/export-spec.ts";
import type { KeyColumn, SourceKey } from "../../config/records.ts";
import { type Clock, FakeClock } from "../../lib/clock.ts";
import {
  ChunkSequenceError,
  ExportConflictError,
  ExportStateError,
  type JobStore,
  type Lease,
  LeaseLostError,
  type NewChunk,
  type NewExport,
  RangeChangedError,
} from "../../lib/jobs/job-store.ts";
import { attemptCases } from "./job-store-attempts.contract.ts";
import { type CrashedCreate, crashCases } from "./job-store-crash.contract.ts";
import { operatorCases } from "./job-store-operator.contract.ts";
import { retentionCases } from "./job-store-retention.contract.ts";
import { revokeCases } from "./job-store-revoke.contract.ts";

export type { CrashedCreate };

/**
 * The JobStore contract: every implementation runs these cases. `setup` gives a harness that opens stores on one
 * backing table with a given clock (several stores with their own clocks play several processes).
 */
export interface JobStoreHarness {
  open(clock: Clock): JobStore;
  close(): Promise<void>;
  /**
   * Optional capability of a backend whose state a test can write raw: leaves behind what a create that crashed half
   * way leaves (CrashedCreate). A harness without it has the case that needs it reported as skipped, with the reason.
   */
  seedCrashedCreate?(crash: CrashedCreate): Promise<void>;
  /** Bytes of a partition's own stored item as the backend keeps it (DynamoDB caps an item at 400 KB). */
  partitionBytes(exportId: string, partition: number): Promise<number>;
}

const LEASE = 30_000;
const SKEW = 10_000;

export function specFor(name: string, pool: string, extra: Record<string, unknown> = {}): ExportSpec {
  return exportSpec.parse({
    kind: "Export",
    name,
    pool,
    source: { user: "u", database: "db", table: "calls" },
    destination: { bucket: "bucket-1", format: "ndjson" },
    ...extra,
  });
}

const intKey: KeyColumn[] = [{ name: "id", type: "uint", sqlType: "bigint(20) unsigned" }];

/** An export of `n` partitions over integer keys 0, 1000, 2000, ... in its own pool. */
export function plan(n: number, pool = `p-${randomBytes(3).toString("hex")}`, name = `e-${randomBytes(3).toString("hex")}`): NewExport {
  return {
    exportId: name,
    spec: specFor(name, pool),
    keyColumns: intKey,
    keyIndex: "PRIMARY",
    lowKey: ["0"],
    highWatermark: [String(n * 1000 - 1)],
    partitions: Array.from({ length: n }, (_, i) => ({
      lo: i === 0 ? null : [String(i * 1000)],
      hi: i === n - 1 ? null : [String((i + 1) * 1000)],
      estimatedRows: 1000,
    })),
  };
}

export const chunk = (lease: Lease, lastKey: SourceKey, rows = 10): NewChunk => ({
  seq: lease.chunks + 1,
  objectKey: `x/${lease.exportId}/p${lease.partition}/c${lease.chunks + 1}-e${lease.epoch}.ndjson`,
  rows,
  bytes: rows * 100,
  sha256: "0".repeat(64),
  firstKey: lease.cursor ?? lease.lo ?? ["0"],
  lastKey,
});

export function jobStoreContract(name: string, setup: () => Promise<JobStoreHarness>): void {
  describe(`JobStore contract: ${name}`, () => {
    let h: JobStoreHarness;
    let clock: FakeClock;
    let store: JobStore;
    before(async () => {
      h = await setup();
      clock = new FakeClock();
      store = h.open(clock);
    });
    after(async () => h?.close());
    operatorCases(() => ({ store, clock }));
    revokeCases(() => ({ store, clock }));
    crashCases(() => ({ store, clock, harness: h }));
    attemptCases(() => ({ store, clock }));
    retentionCases(() => ({ store, clock }));

    test("creating an export is idempotent and re-planning duplicates nothing", async () => {
      const p = plan(12);
      const first = await store.createExport(p);
      assert.equal(first.created, true);
      assert.equal(first.export.state, "RUNNING");
      assert.equal(first.export.queued, true);
      const again = await store.createExport(p);
      assert.deepEqual([again.created, again.planDiffers], [false, false]);
      const changed = await store.createExport({ ...p, partitions: p.partitions.slice(0, 5), highWatermark: ["4999"] });
      assert.deepEqual([changed.created, changed.planDiffers, changed.export.partitionCount], [false, true, 12]);
      const parts = await store.listPartitions(p.exportId);
      assert.deepEqual(
        parts.items.map((x) => x.partition),
        [...Array(12).keys()],
      );
      const claimed: number[] = [];
      for (let l = await store.claim({ pool: p.spec.pool, owner: "n1", leaseMs: LEASE }); l; ) {
        claimed.push(l.partition);
        l = await store.claim({ pool: p.spec.pool, owner: "n1", leaseMs: LEASE });
      }
      assert.deepEqual(
        claimed.sort((a, b) => a - b),
        [...Array(12).keys()],
      );
      await assert.rejects(store.createExport({ ...p, spec: specFor(p.exportId, "other-pool") }), ExportConflictError);
    });

    test("60 concurrent claimers: every partition is won exactly once", async () => {
      const p = plan(25);
      await store.createExport(p);
      const wins: Lease[] = [];
      await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          for (;;) {
            const l = await store.claim({ pool: p.spec.pool, owner: `node-${i}`, leaseMs: LEASE });
            if (!l) return;
            wins.push(l);
          }
        }),
      );
      assert.equal(wins.length, 25);
      assert.equal(new Set(wins.map((w) => w.partition)).size, 25);
      for (const w of wins) {
        assert.equal(w.epoch, 1);
        const rec = await store.getPartition(p.exportId, w.partition);
        assert.deepEqual([rec?.state, rec?.owner, rec?.epoch], ["LEASED", w.owner, 1]);
      }
      const ev = await store.listEvents(p.exportId, 7);
      assert.deepEqual(
        ev.items.map((e) => e.kind),
        ["claimed"],
      );
    });

    test("50 claimers racing for one partition: exactly one wins", async () => {
      const p = plan(1);
      await store.createExport(p);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.claimPartition(p.exportId, 0, { pool: p.spec.pool, owner: `r-${i}`, leaseMs: LEASE })),
      );
      const winners = results.filter((r) => r !== null);
      assert.equal(winners.length, 1);
      assert.equal((await store.getPartition(p.exportId, 0))?.owner, winners[0]?.owner);
    });

    test("a zombie owner after takeover: every fenced write is rejected", async () => {
      const p = plan(2);
      await store.createExport(p);
      const zombie = await store.claimPartition(p.exportId, 0, { pool: p.spec.pool, owner: "zombie", leaseMs: LEASE });
      assert.ok(zombie);
      const z1 = await store.checkpoint(zombie, chunk(zombie, ["100"]));
      await clock.advance(LEASE + SKEW + 1);
      const reaped = await store.reapExpired({ skewMarginMs: SKEW });
      assert.deepEqual(
        reaped.filter((r) => r.exportId === p.exportId).map((r) => [r.partition, r.owner, r.epoch]),
        [[0, "zombie", 1]],
      );
      const heir = await store.claimPartition(p.exportId, 0, { pool: p.spec.pool, owner: "heir", leaseMs: LEASE });
      assert.ok(heir);
      assert.deepEqual([heir.epoch, heir.cursor, heir.chunks], [2, ["100"], 1]);
      const fenced: [string, () => Promise<unknown>][] = [
        ["heartbeat", () => store.heartbeat(z1, LEASE)],
        ["checkpoint", () => store.checkpoint(z1, chunk(z1, ["200"]))],
        ["release", () => store.release(z1)],
        ["complete", () => store.complete(z1)],
        ["fail", () => store.fail(z1, { error: "x", maxAttempts: 3, backoffMs: 1000 })],
        ["split", () => store.split({ ...z1, cursor: z1.cursor, hi: z1.hi }, ["500"])],
      ];
      for (const [op, write] of fenced) {
        await assert.rejects(write(), (err) => err instanceof LeaseLostError && err.current?.owner === "heir", op);
      }
      const h2 = await store.checkpoint(heir, chunk(heir, ["300"]));
      const rec = await store.getPartition(p.exportId, 0);
      assert.deepEqual([rec?.owner, rec?.epoch, rec?.cursor, rec?.chunks], ["heir", 2, ["300"], 2]);
      const chunks = await store.listChunks(p.exportId, 0);
      assert.deepEqual(
        chunks.items.map((c) => [c.seq, c.epoch]),
        [
          [1, 1],
          [2, 2],
        ],
      );
      await store.complete(h2);
      const kinds = (await store.listEvents(p.exportId, 0)).items.map((e) => `${e.kind}@${e.epoch}`);
      assert.deepEqual(kinds, ["claimed@1", "checkpointed@1", "reaped@1", "claimed@2", "checkpointed@2", "completed@2"]);
    });

    test("reaping follows a stepped clock, heartbeats and the skew margin", async () => {
      const p = plan(1);
      await store.createExport(p);
      const agentClock = new FakeClock(clock.now());
      const agent = h.open(agentClock);
      let l = await agent.claimPartition(p.exportId, 0, { pool: p.spec.pool, owner: "a", leaseMs: LEASE });
      assert.ok(l);
      const mine = async () => (await store.reapExpired({ skewMarginMs: SKEW })).filter((r) => r.exportId === p.exportId);
      await clock.advance(LEASE - 1000);
      assert.deepEqual(await mine(), []);
      await agentClock.advance(LEASE - 1000);
      l = await agent.heartbeat(l, LEASE);
      await clock.advance(LEASE); // past the first expiry, inside the extended lease
      assert.deepEqual(await mine(), []);
      await clock.advance(SKEW / 2); // past the extended expiry, inside the skew margin
      assert.deepEqual(await mine(), []);
      await clock.advance(SKEW / 2 + 1);
      const reaped = await mine();
      assert.deepEqual(
        reaped.map((r) => [r.partition, r.owner, r.leaseExpiresAt]),
        [[0, "a", l.leaseExpiresAt]],
      );
      assert.deepEqual(await mine(), []);
      const rec = await store.getPartition(p.exportId, 0);
      assert.deepEqual([rec?.state, rec?.owner, rec?.epoch], ["PENDING", null, 1]);
      assert.ok(await store.claim({ pool: p.spec.pool, owner: "b", leaseMs: LEASE }));
    });

    test("a partition handed back mid-way (released or reaped) is claimed before fresh ones", async () => {
      const p = plan(20);
      await store.createExport(p);
      const pool = p.spec.pool;
      const a = await store.claim({ pool, owner: "a", leaseMs: LEASE });
      assert.ok(a);
      await store.checkpoint(a, chunk(a, [String(a.partition * 1000 + 10)]));
      await store.release((await store.refresh(a))!, { interrupted: true });
      const next = await store.claim({ pool, owner: "b", leaseMs: LEASE });
      assert.equal(next?.partition, a.partition, "the released partition is resumed first");
      assert.deepEqual(next?.cursor, [String(a.partition * 1000 + 10)]);
      await clock.advance(LEASE + SKEW + 1);
      await store.reapExpired({ skewMarginMs: SKEW });
      const again = await store.claim({ pool, owner: "c", leaseMs: LEASE });
      assert.equal(again?.partition, a.partition, "the reaped partition is resumed first");
    });

    test("a split racing a checkpoint: exactly one of them wins, and the loser is told why", async () => {
      const p = plan(8);
      await store.createExport(p);
      const outcomes = new Map<string, number>();
      for (let n = 0; n < 8; n++) {
        let lease = await store.claimPartition(p.exportId, n, { pool: p.spec.pool, owner: `o${n}`, leaseMs: LEASE });
        assert.ok(lease);
        lease = await store.checkpoint(lease, chunk(lease, [String(n * 1000 + 100)]));
        const seen = await store.getPartition(p.exportId, n);
        assert.ok(seen?.owner);
        const at = [String(n * 1000 + 500)];
        const [s, c] = await Promise.allSettled([
          store.split({ ...seen, owner: seen.owner }, at),
          store.checkpoint(lease, chunk(lease, [String(n * 1000 + 700)])),
        ]);
        assert.ok(s.status === "rejected" || c.status === "rejected", "both a split and a checkpoint past it succeeded");
        const failed = s.status === "rejected" ? s.reason : c.status === "rejected" ? c.reason : null;
        assert.ok(failed instanceof RangeChangedError, `unexpected ${failed}`);
        const key = s.status === "fulfilled" ? "split" : "checkpoint";
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        const rec = await store.getPartition(p.exportId, n);
        if (s.status === "fulfilled") {
          assert.deepEqual([rec?.hi, rec?.cursor, s.value.created.lo, s.value.created.hi], [at, [String(n * 1000 + 100)], at, lease.hi]);
          const fresh = await store.refresh(lease);
          assert.deepEqual(fresh?.hi, at);
          assert.ok(fresh && (await store.checkpoint(fresh, chunk(fresh, [String(n * 1000 + 499)]))));
        } else {
          assert.deepEqual([rec?.hi, rec?.cursor, rec?.chunks], [lease.hi, [String(n * 1000 + 700)], 2]);
        }
      }
      const exp = await store.getExport(p.exportId);
      assert.equal(exp?.partitionCount, 8 + (outcomes.get("split") ?? 0));
      const created = await store.listPartitions(p.exportId, { after: 7 });
      assert.ok(created.items.every((x) => x.state === "PENDING" && x.splitFrom !== null));
    });

    test("source keys round-trip exactly: 2^64-1, negative BIGINT, DECIMAL, utf8, dates, composite", async () => {
      const keys: SourceKey[] = [
        ["-9223372036854775808", "0001.10", "Zürich 🚀 \"q\" 'x' \\ \u0000end", "2024-02-29", "2024-02-29 23:59:59.999999"],
        ["9007199254740993", "12345678901234567890123456.123456789012", "日本語", "9999-12-31", "1970-01-01 00:00:00"],
        ["18446744073709551615", "-0.000000000000000001", "", "0001-01-01", "2038-01-19 03:14:08.000001"],
      ];
      const name = `k-${randomBytes(3).toString("hex")}`;
      const input: NewExport = {
        exportId: name,
        spec: specFor(name, `p-${name}`),
        keyColumns: [
          { name: "a", type: "int", sqlType: "bigint(20)" },
          { name: "b", type: "decimal", sqlType: "decimal(38,12)" },
          { name: "c", type: "string", sqlType: "varchar(64)", collation: "utf8mb4_bin", charset: "utf8mb4" },
          { name: "d", type: "date", sqlType: "date" },
          { name: "e", type: "datetime", sqlType: "datetime(6)" },
        ],
        keyIndex: "PRIMARY",
        lowKey: keys[0] ?? null,
        highWatermark: keys[2] ?? null,
        partitions: [{ lo: keys[0] ?? null, hi: keys[2] ?? null, estimatedRows: 3 }],
      };
      await store.createExport(input);
      const exp = await store.getExport(name);
      assert.deepEqual([exp?.lowKey, exp?.highWatermark, exp?.keyColumns], [keys[0], keys[2], input.keyColumns]);
      let l = await store.claim({ pool: input.spec.pool, owner: "k", leaseMs: LEASE });
      assert.ok(l);
      assert.deepEqual([l.lo, l.hi], [keys[0], keys[2]]);
      l = await store.checkpoint(l, { ...chunk(l, keys[1] as SourceKey), firstKey: keys[0] as SourceKey });
      const rec = await store.getPartition(name, 0);
      assert.deepEqual([rec?.lo, rec?.hi, rec?.cursor], [keys[0], keys[2], keys[1]]);
      const [c] = (await store.listChunks(name, 0)).items;
      assert.deepEqual([c?.firstKey, c?.lastKey], [keys[0], keys[1]]);
      const split = await store.split(
        { exportId: name, partition: 0, owner: "k", epoch: l.epoch, cursor: l.cursor, hi: l.hi },
        keys[2] as SourceKey,
      );
      assert.deepEqual([split.created.lo, split.kept.hi], [keys[2], keys[2]]);
    });

    // The partition's item must not grow with its chunks (a chunk list kept on it would pass DynamoDB's 400 KB only
    // until a few thousand chunks): its size is measured after 10 and after 600 chunks, not run into the limit.
    test("a partition with 600 committed chunks stays the size it was at 10, and lists in pages", async () => {
      const p = plan(1);
      await store.createExport(p);
      let l = await store.claim({ pool: p.spec.pool, owner: "bulk", leaseMs: LEASE });
      assert.ok(l);
      let early = 0;
      for (let i = 1; i <= 600; i++) {
        l = await store.checkpoint(l, chunk(l, [String(100 + i)], 7), i % 100 === 0 ? { leaseMs: LEASE } : {});
        if (i === 10) early = await h.partitionBytes(p.exportId, 0);
      }
      const rec = await store.getPartition(p.exportId, 0);
      assert.deepEqual([rec?.chunks, rec?.rows, rec?.cursor], [600, 4200, ["700"]]);
      const late = await h.partitionBytes(p.exportId, 0);
      // Cursor and counters keep their digits (110 -> 700, 10 -> 600 chunks, 70 -> 4200 rows); a lease renewal may differ.
      assert.ok(late - early <= 64, `the partition item grew from ${early} to ${late} bytes over 590 chunks`);
      const seqs: number[] = [];
      let after: number | undefined;
      let pages = 0;
      for (;;) {
        const page = await store.listChunks(p.exportId, 0, { limit: 160, after });
        pages++;
        seqs.push(...page.items.map((c) => c.seq));
        if (page.next === null) break;
        after = page.next;
      }
      assert.equal(pages, 4);
      assert.deepEqual(
        seqs,
        Array.from({ length: 600 }, (_, i) => i + 1),
      );
      const newest = await store.listEvents(p.exportId, 0, { limit: 3, newestFirst: true });
      assert.deepEqual(
        newest.items.map((e) => e.detail),
        ["chunk 600: 7 rows, 700 bytes", "chunk 599: 7 rows, 700 bytes", "chunk 598: 7 rows, 700 bytes"],
      );
      const done = await store.complete(l);
      assert.equal(done.state, "DONE");
      assert.equal((await store.progress(p.exportId)).byState.DONE.chunks, 600);
    });

    test("checkpoints are ordered and a retried checkpoint is idempotent", async () => {
      const p = plan(1);
      await store.createExport(p);
      const l = await store.claim({ pool: p.spec.pool, owner: "c", leaseMs: LEASE });
      assert.ok(l);
      const c1 = chunk(l, ["10"]);
      const l1 = await store.checkpoint(l, c1);
      assert.deepEqual(await store.checkpoint(l, c1), l1);
      await assert.rejects(store.checkpoint(l, { ...c1, objectKey: "other" }), ChunkSequenceError);
      await assert.rejects(store.checkpoint(l1, { ...chunk(l1, ["20"]), seq: 5 }), ChunkSequenceError);
      await store.release(l1, { interrupted: true, detail: "spot notice" });
      const rec = await store.getPartition(p.exportId, 0);
      assert.deepEqual([rec?.state, rec?.cursor, rec?.owner], ["PENDING", ["10"], null]);
      const next = await store.claim({ pool: p.spec.pool, owner: "d", leaseMs: LEASE });
      assert.deepEqual([next?.cursor, next?.chunks, next?.epoch], [["10"], 1, 2]);
      const kinds = (await store.listEvents(p.exportId, 0)).items.map((e) => e.kind);
      assert.deepEqual(kinds, ["claimed", "checkpointed", "interrupted", "claimed"]);
    });

    test("failures back off, then quarantine after the maximum", async () => {
      const p = plan(1);
      await store.createExport(p);
      const req = { pool: p.spec.pool, owner: "f", leaseMs: LEASE };
      const l = await store.claim(req);
      assert.ok(l);
      const failed = await store.fail(l, { error: "boom", maxAttempts: 2, backoffMs: 60_000 });
      assert.deepEqual([failed.state, failed.attempts, failed.lastError], ["PENDING", 1, "boom"]);
      assert.equal(await store.claim(req), null);
      await clock.advance(60_000);
      const again = await store.claim(req);
      assert.deepEqual([again?.partition, again?.attempts, again?.epoch], [0, 1, 2]);
      assert.ok(again);
      const q = await store.fail(again, { error: "boom again", maxAttempts: 2, backoffMs: 60_000 });
      assert.equal(q.state, "QUARANTINED");
      await clock.advance(3_600_000);
      assert.equal(await store.claim(req), null);
      const prog = await store.progress(p.exportId);
      assert.equal(prog.byState.QUARANTINED.partitions, 1);
    });

    test("export state changes are conditional on the current state", async () => {
      const p = plan(1);
      await store.createExport(p);
      const fin = await store.setExportState(p.exportId, { from: ["RUNNING", "FINALIZING"], to: "FINALIZING" });
      assert.equal(fin.state, "FINALIZING");
      assert.equal((await store.setExportState(p.exportId, { from: ["RUNNING", "FINALIZING"], to: "FINALIZING" })).state, "FINALIZING");
      const done = await store.setExportState(p.exportId, {
        from: ["FINALIZING"],
        to: "SUCCEEDED",
        manifestKey: "m.json",
        rowsExported: 5,
        bytesExported: 9,
      });
      assert.deepEqual([done.state, done.manifestKey, done.rowsExported, done.bytesExported], ["SUCCEEDED", "m.json", 5, 9]);
      await assert.rejects(store.setExportState(p.exportId, { from: ["RUNNING"], to: "CANCELLED" }), ExportStateError);
    });

    test("read models: exports newest first, partitions by state, progress", async () => {
      const p = plan(3);
      await clock.advance(1000);
      await store.createExport(p);
      const l = await store.claim({ pool: p.spec.pool, owner: "r", leaseMs: LEASE });
      assert.ok(l);
      await store.checkpoint(l, chunk(l, ["5"], 40));
      const leased = await store.listPartitions(p.exportId, { state: "LEASED" });
      assert.deepEqual(
        leased.items.map((x) => x.partition),
        [l.partition],
      );
      const prog = await store.progress(p.exportId);
      assert.deepEqual([prog.byState.PENDING.partitions, prog.byState.LEASED.rows, prog.owners], [2, 40, { r: 1 }]);
      const [newest] = await store.listExports({ limit: 1 });
      assert.equal(newest?.exportId, p.exportId);
    });
  });
}
