import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { systemClock } from "../../lib/clock.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { NOW, seedOncallWorld } from "../helpers/oncall-seed.ts";
import { cli, matchSnapshot } from "../helpers/snapshot.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

// The on-call CLI against a seeded state table (test/helpers/oncall-seed.ts) at a fixed instant (SPOTFERRY_NOW):
// output snapshots of every read command (tables and --json), `why` on each kind of stuck state, and the actions'
// refusals and confirmations. Snapshots live in test/snapshots/oncall/.

let t: Awaited<ReturnType<typeof tempStateTable>>;
let env: Record<string, string>;

before(async () => {
  t = await tempStateTable("oncall-cli");
  await seedOncallWorld(t.client, t.tableName);
  env = { SPOTFERRY_STATE_TABLE: t.tableName, SPOTFERRY_NOW: NOW };
});
after(async () => t?.drop());

const slug = (args: string[]) => args.join("_").replace(/[^A-Za-z0-9_-]+/g, "");

/** Runs a command and snapshots `$ command`, its exit code and its output. */
async function snap(args: string[], expectCode: number, extraEnv: Record<string, string> = {}) {
  const r = await cli(args, { ...env, ...extraEnv });
  assert.equal(r.code, expectCode, `spotferry ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  matchSnapshot(
    `oncall/${slug(args)}.txt`,
    `$ spotferry ${args.join(" ")}\n${r.stdout}${r.stderr ? `[stderr] ${r.stderr}` : ""}[exit ${r.code}]\n`,
  );
  return r;
}

describe("read commands: snapshots (human and --json)", { concurrency: 2 }, () => {
  const reads: [string[], number][] = [
    [["status"], 4],
    [["exports"], 0],
    [["export", "show", "calls-2026", "--limit", "5"], 0],
    [["partition", "show", "calls-2026", "8"], 0],
    [["partition", "show", "calls-2026", "6"], 0],
    [["nodes"], 0],
    [["nodes", "--pool", "etl-spot", "--all"], 0],
    [["node", "show", "i-0a2"], 0],
  ];
  for (const [args, code] of reads) {
    test(args.join(" "), async () => {
      await snap(args, code);
      const json = await snap([...args, "--json"], code);
      assert.doesNotThrow(() => JSON.parse(json.stdout), "valid JSON");
    });
  }

  test("status lists what needs a human first, worst first", async () => {
    const r = await cli(["status", "--json"], env);
    const s = JSON.parse(r.stdout) as { attention: { kind: string; level: string }[] };
    assert.deepEqual(
      s.attention.map((a) => a.kind),
      ["export-failed", "schedule-drift", "no-nodes", "quarantined", "lease-expired", "not-heartbeating", "stalled"],
    );
    const human = (await cli(["status"], env)).stdout;
    assert.ok(human.indexOf("NEEDS A HUMAN") < human.indexOf("EXPORTS"));
  });

  test("unknown ids and bad flags: one line, exit 1 / 2", async () => {
    const missing = await cli(["partition", "show", "no-such", "1"], env);
    assert.deepEqual([missing.code, missing.stderr], [1, "error: export no-such not found\n"]);
    const bad = await cli(["exports", "--state", "sleeping"], env);
    assert.equal(bad.code, 2);
    const noTable = await cli(["status"], { ...env, SPOTFERRY_STATE_TABLE: "t-does-not-exist" });
    assert.equal(noTable.code, 3);
    assert.match(noTable.stderr, /state table t-does-not-exist does not exist/);
  });
});

describe("why: each kind of stuck state", { concurrency: 2 }, () => {
  const cases: [string, string[], number, RegExp][] = [
    [
      "quarantined",
      ["calls-2026", "8"],
      4,
      /quarantined after 3 attempts; last error: ER_LOCK_DEADLOCK.*; last owner i-0a3 was interrupted at 2026-03-02T01:09:00/,
    ],
    [
      "in backoff",
      ["calls-2026", "9"],
      4,
      /in backoff after attempt 1 failed \(Lost connection to MySQL server during query\); claimable again in 11m/,
    ],
    ["lease expired, not reaped", ["calls-2026", "7"], 4, /leased by i-0a2 whose lease expired 5m ago and was not reaped yet/],
    ["no nodes in the pool", ["orders-eu", "0"], 4, /no nodes in pool eu-pool to claim it/],
    ["export with no progress and no nodes", ["orders-eu"], 4, /has made no progress for 2h04m/],
    ["export cancelled", ["audit-log"], 4, /cancelled 50m ago \(cancelled: wrong date range\)/],
    ["partition of a cancelled export", ["audit-log", "0"], 4, /export is CANCELLED .*parked off the claim queue/],
    ["export failed", ["billing"], 4, /failed 30m ago: source table shop.billing was dropped/],
    ["export with several problems", ["calls-2026"], 4, /node i-0a2 \(etl-spot\) has not heartbeated for 6m/],
    ["running partition", ["calls-2026", "6"], 0, /running on i-0a1 at 333 rows\/s, last chunk 1m ago/],
    ["finished export", ["users-old"], 0, /finished 1h55m ago: 100,000 rows/],
  ];
  for (const [name, args, code, expect] of cases) {
    test(name, async () => {
      const r = await snap(["why", ...args], code);
      assert.match(r.stdout, expect);
    });
  }

  test("no controller: the leader lease has expired", async () => {
    const r = await cli(["why", "calls-2026"], { ...env, SPOTFERRY_NOW: "2026-03-02T03:05:00.000Z" });
    assert.equal(r.code, 4);
    assert.match(r.stdout, /no controller holds the leader lease \(last held by controller-a:4242, expired 4m40s ago\)/);
  });
});

describe("actions: refusals first, then confirmed changes", { concurrency: false }, () => {
  const refusals: [string, string[], number, RegExp][] = [
    [
      "retry of a partition that is not quarantined",
      ["retry", "calls-2026", "6", "--yes"],
      5,
      /partition 6 of export calls-2026 is LEASED, not QUARANTINED; nothing was changed/,
    ],
    ["retry on a failed export", ["retry", "billing", "--yes"], 5, /export billing is FAILED/],
    [
      "cancel of a finished export",
      ["cancel", "users-old", "--yes"],
      5,
      /export users-old is SUCCEEDED; only a PLANNING or RUNNING export can be cancelled/,
    ],
    ["drain of a terminated node", ["drain", "i-0a3", "--yes"], 5, /node i-0a3 is TERMINATED/],
    ["scale with min above max", ["scale", "etl-spot", "--min", "5", "--max", "2", "--yes"], 2, /capacity.min: min must not exceed max/],
    [
      "an action without a terminal and without --yes",
      ["retry", "calls-2026", "8"],
      2,
      /refusing to retry partition 8 of export calls-2026 .* without confirmation: no terminal to ask on; pass --yes/,
    ],
  ];
  for (const [name, args, code, expect] of refusals) {
    test(`refused: ${name}`, async () => {
      const r = await cli(args, env);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, expect);
      assert.equal(r.stdout, "");
    });
  }

  test("nothing changed by the refusals", async () => {
    const jobs = new DynamoJobStore({ client: t.client, tableName: t.tableName, clock: systemClock });
    assert.equal((await jobs.getPartition("calls-2026", 8))?.state, "QUARANTINED");
    assert.equal((await jobs.getExport("users-old"))?.state, "SUCCEEDED");
  });

  test("retry, scale, drain and cancel with --yes", async () => {
    const jobs = new DynamoJobStore({ client: t.client, tableName: t.tableName, clock: systemClock });
    const fleet = new DynamoFleetStore({ client: t.client, tableName: t.tableName, clock: systemClock });
    const retry = await cli(["retry", "calls-2026", "8", "--yes"], env);
    assert.deepEqual([retry.code, retry.stdout], [0, "export calls-2026: 1 partition(s) back on the queue (8)\n"]);
    const p = await jobs.getPartition("calls-2026", 8);
    assert.deepEqual([p?.state, p?.attempts], ["PENDING", 0]);
    assert.match((await cli(["why", "calls-2026", "8"], env)).stdout, /pending, claimable now/);

    const scale = await cli(["scale", "etl-spot", "--min", "1", "--max", "8", "--yes", "--json"], env);
    assert.equal(scale.code, 0, scale.stderr);
    assert.deepEqual(JSON.parse(scale.stdout).capacity, { min: 1, max: 8, onDemandBase: 0, partitionsPerNode: 1 });
    assert.equal((await fleet.getPool("etl-spot"))?.spec.capacity.max, 8);

    // The sim does not know i-0a5, so the terminate request fails: the node is DRAINING anyway, with a warning.
    const drain = await cli(["drain", "i-0a5", "--yes"], env);
    assert.equal(drain.code, 0, drain.stderr);
    assert.equal((await fleet.getNode("etl-spot", "i-0a5"))?.lifecycle, "DRAINING");
    assert.equal((await cli(["drain", "i-0a5", "--yes"], env)).code, 5, "a second drain is refused");

    const cancel = await cli(["cancel", "calls-2026", "--yes", "--json"], env);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.deepEqual(JSON.parse(cancel.stdout), { exportId: "calls-2026", state: "CANCELLED", dequeued: 3, leased: 3 });
    assert.equal(await jobs.claim({ pool: "etl-spot", owner: "late", leaseMs: 1000 }).then((l) => l?.exportId === "calls-2026"), false);
    assert.match((await cli(["why", "calls-2026"], env)).stdout, /cancelled .* ago/);
  });
});
