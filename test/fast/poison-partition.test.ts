import assert from "node:assert/strict";
import { test } from "node:test";
import { S3Client } from "@aws-sdk/client-s3";
import { Agent } from "../../agent/agent.ts";
import type { PartitionRecord } from "../../config/records.ts";
import { agentSettings } from "../../config/settings.ts";
import { FakeClock } from "../../lib/clock.ts";
import { MemoryJobStore } from "../../lib/jobs/memory-job-store.ts";
import { plan, specFor } from "../contract/job-store.contract.ts";

// A poisoned partition on the in-memory store and a stepped clock: every failure once the lease is held counts as an
// attempt, backs off per the export's retry policy and ends QUARANTINED with its reason, instead of the claim loop
// crashing with the lease held until it expires (issue 14: epoch 14 in 6 minutes, attempts still 0).

const LEASE_S = 60;

function agentOn(store: MemoryJobStore, clock: FakeClock, pool: string, lines: string[]) {
  const settings = {
    ...agentSettings.parse({ pool, idleExitAfter: 86_400, partitionLease: LEASE_S, heartbeatInterval: 15 }),
    nodeId: "n1",
  };
  // Never used: nothing here gets as far as an upload.
  const s3 = new S3Client({ region: "us-east-1", endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: "x", secretAccessKey: "x" } });
  return new Agent({ store, s3, clock, settings, log: (l) => lines.push(l) });
}

/** Steps the clock a second at a time, letting the agent run between steps, until `done` holds. */
async function stepUntil(clock: FakeClock, what: string, done: () => Promise<boolean>): Promise<void> {
  for (let k = 0; k < 2_000; k++) {
    if (await done()) return;
    await clock.advance(1_000);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  }
  throw new Error(`gave up waiting for ${what}`);
}

const states = async (store: MemoryJobStore, exportId: string): Promise<PartitionRecord[]> => (await store.listPartitions(exportId)).items;

test("a partition whose export record cannot be decoded is failed, backs off and ends QUARANTINED with its reason", async () => {
  const clock = new FakeClock();
  const store = new MemoryJobStore({ clock });
  const p = plan(2);
  await store.createExport({ ...p, spec: specFor(p.exportId, p.spec.pool, { retry: { maxAttempts: 3, backoff: "10s" } }) });
  // What an older planner could write: a chunk size of 0, which this version's record schema refuses.
  const stored = store.table.exports.get(p.exportId);
  assert.ok(stored);
  stored.record.spec.destination.chunk.maxBytes = 0;
  await assert.rejects(store.getExport(p.exportId), "the record no longer decodes");

  const lines: string[] = [];
  const agent = agentOn(store, clock, p.spec.pool, lines);
  const run = agent.run();
  const started = clock.now();
  await stepUntil(clock, "both partitions quarantined", async () =>
    (await states(store, p.exportId)).every((x) => x.state === "QUARANTINED"),
  );
  agent.drain({ mode: "now", interrupted: false, reason: "test over" });
  const summary = await run;

  for (const x of await states(store, p.exportId)) {
    assert.equal(x.attempts, 3, `partition ${x.partition}: the policy's maxAttempts, read from the undecodable record`);
    assert.match(x.lastError ?? "", /^reading the record of export .*maxBytes/s);
    assert.doesNotMatch(x.lastError ?? "", /\n/, "one line");
    const kinds = (await store.listEvents(p.exportId, x.partition)).items.map((e) => e.kind);
    assert.deepEqual(kinds, ["claimed", "failed", "claimed", "failed", "claimed", "quarantined"]);
  }
  // Backoff 10 s then 20 s: the third attempt cannot come before 30 s.
  assert.ok(clock.now() - started >= 30_000, "the retries waited for their backoff");
  assert.equal(summary.outcomes.failed, 6);
  assert.ok(!lines.some((l) => l.includes("claim loop error")), "the claim loop never crashed with a lease held");
});

test("a partition whose holders keep dying ends QUARANTINED: each silent end is counted at the next claim", async () => {
  const clock = new FakeClock();
  const store = new MemoryJobStore({ clock });
  const p = plan(1);
  await store.createExport({ ...p, spec: specFor(p.exportId, p.spec.pool, { retry: { maxAttempts: 3, backoff: "10s" } }) });
  // Two agents die on it right after their claim (a crash, an OOM kill): the reaper returns their leases.
  for (const owner of ["dies-1", "dies-2"]) {
    assert.ok(await store.claim({ pool: p.spec.pool, owner, leaseMs: LEASE_S * 1000 }));
    await clock.advance(LEASE_S * 1000 + 1);
    assert.equal((await store.reapExpired({ skewMarginMs: 0 })).length, 1);
  }
  // The third claim counts the second death as attempt 2... and the agent's own claim counts the third one: at the
  // maximum, it quarantines without opening the source again.
  assert.ok(await store.claim({ pool: p.spec.pool, owner: "dies-3", leaseMs: LEASE_S * 1000 }));
  await clock.advance(LEASE_S * 1000 + 1);
  await store.reapExpired({ skewMarginMs: 0 });

  const lines: string[] = [];
  const agent = agentOn(store, clock, p.spec.pool, lines);
  const run = agent.run();
  await stepUntil(clock, "the partition quarantined", async () => (await states(store, p.exportId))[0]?.state === "QUARANTINED");
  agent.drain({ mode: "now", interrupted: false, reason: "test over" });
  await run;
  const [q] = await states(store, p.exportId);
  assert.equal(q?.attempts, 3);
  assert.match(q?.lastError ?? "", /lease of dies-3 at epoch 3 ended with no progress and no report/);
  assert.ok(!lines.some((l) => l.includes("opening the source")), "no further attempt was made on it");
});
