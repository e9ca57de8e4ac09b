import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { runSchedule, type SchedulerDeps, type TickResult, tick, tickExitCode } from "../../controller/schedule/scheduler.ts";
import { DynamoScheduleStore } from "../../controller/store/dynamo-schedule-store.ts";
import type { ScheduleStore } from "../../controller/store/schedule-store.ts";
import { systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { requireEnv } from "../helpers/env.ts";
import { type IncrementalFixture, incrementalFixture } from "../helpers/incremental-fixture.ts";
import { cli } from "../helpers/snapshot.ts";

// Issue 17 item 5: a schedule recovers by itself. A tick whose source cannot be reached fails in one line with a
// non-zero exit and leaves the lock free (no renewals go on), so the next tick, this process's or cron's, runs; a busy
// tick names the holder and when its lock runs out; run directories list in run order.

let fx: IncrementalFixture;
before(async () => {
  fx = await incrementalFixture();
  await fx.ordersTable("orders");
  await fx.insertOrders("orders", 100);
});
after(() => fx?.cleanup());

const LEASE_MS = 60_000;

/** The real DynamoDB store, with its lock calls counted (renewals are acquireLease calls by the same owner). */
function countingStore(store: ScheduleStore): { store: ScheduleStore; acquires: () => number } {
  let n = 0;
  const counted = new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      if (key !== "acquireLease") return value.bind(target);
      return (...args: unknown[]) => {
        n++;
        return value.apply(target, args);
      };
    },
  });
  return { store: counted, acquires: () => n };
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A TCP hop to the stack's MariaDB that can be down (every connection dropped at once) or up. */
async function switchableSource(): Promise<{ port: number; up: () => void; close: () => Promise<void> }> {
  let isUp = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    if (!isUp) return void client.destroy();
    const db = connect(Number(requireEnv("SPOTFERRY_MYSQL_PORT")), requireEnv("SPOTFERRY_MYSQL_HOST"));
    sockets.add(db);
    db.on("close", () => sockets.delete(db));
    client.on("error", () => db.destroy());
    db.on("error", () => client.destroy());
    client.pipe(db).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    up: () => {
      isUp = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function runDirs(name: string): Promise<string[]> {
  const out = await fx.deps.s3.send(new ListObjectsV2Command({ Bucket: fx.bucket, Prefix: `lake/${name}/`, Delimiter: "/" }));
  return (out.CommonPrefixes ?? []).map((p) => p.Prefix!);
}

test("a tick against a closed port fails in one line and frees the lock; the next tick, by another process, runs", async () => {
  const good = fx.spec("recover", "orders");
  const port = await closedPort();
  const bad = { ...good, source: { ...good.source, port } };
  const { store, acquires } = countingStore(fx.schedules);
  const deps: SchedulerDeps = { ...fx.deps, schedules: store, leaseMs: LEASE_MS, owner: "cron-1" };

  const failed = await tick(deps, bad);
  assert.equal(failed.action, "failed", failed.message);
  assert.match(failed.message, new RegExp(`connecting to the source .*127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
  assert.doesNotMatch(failed.message, /\n/, "one line");
  assert.equal(tickExitCode(failed), 3, "the source could not be reached: exit 3");
  const sched = (await fx.schedules.getSchedule("recover"))!;
  assert.deepEqual([sched.leaseOwner, sched.leaseUntil], [null, null], "the lock was released");

  // No renewal loop survives the failed tick: many lease periods later, nobody has renewed the lock.
  const before = acquires();
  for (let i = 0; i < 30; i++) await fx.clock.advance(LEASE_MS / 3);
  assert.equal(acquires(), before, "no renewals after the tick ended");
  assert.equal((await fx.schedules.getSchedule("recover"))!.leaseOwner, null);

  // The database is back (the right port): the next cron tick is another process, and it runs.
  const ran = await tick({ ...deps, owner: "cron-2" }, good);
  assert.equal(ran.action, "committed", ran.message);
  assert.equal(ran.run!.rows, 100);
  assert.equal(tickExitCode(ran), 0);
});

test("schedule run (loop mode) whose database is down keeps ticking, and the first tick after it is back commits", async () => {
  const db = await switchableSource();
  try {
    const base = fx.spec("loop", "orders");
    const spec = { ...base, source: { ...base.source, port: db.port } };
    const ticks: TickResult[] = [];
    const waiting = new Map<number, () => void>();
    const tickNumber = (n: number) => new Promise<void>((resolve) => (ticks.length >= n ? resolve() : waiting.set(n, resolve)));
    const stop = new AbortController();
    const deps: SchedulerDeps = { ...fx.deps, leaseMs: LEASE_MS, owner: "loop-1" };
    const loop = runSchedule(deps, spec, stop.signal, (r) => {
      ticks.push(r);
      waiting.get(ticks.length)?.();
    });
    await tickNumber(1);
    assert.equal(ticks[0]!.action, "failed", ticks[0]!.message);
    // Between ticks the lock is free: a cron tick elsewhere is not told "busy" (here: it fails on the same database).
    const other = await tick({ ...deps, owner: "cron-3" }, spec);
    assert.equal(other.action, "failed", other.message);

    db.up();
    await fx.clock.advance(spec.incremental!.every * 1000);
    await tickNumber(2);
    stop.abort();
    await loop;
    assert.equal(ticks[1]!.action, "committed", ticks[1]!.message);
    assert.equal((await fx.schedules.getSchedule("loop"))!.leaseOwner, null);
  } finally {
    await db.close();
  }
});

test("a busy tick names the holder and when its lock expires, relative and in UTC, and exits 4", async () => {
  const spec = fx.spec("busy", "orders");
  await fx.schedules.ensureSchedule("busy");
  assert.ok(await fx.schedules.acquireLease("busy", "vm-other-4242", 10 * 60_000));
  const until = new Date(fx.clock.now() + 10 * 60_000).toISOString();
  const r = await tick(fx.deps, spec);
  assert.equal(r.action, "busy");
  assert.equal(r.message, `schedule busy is being ticked by vm-other-4242; its lock expires in 10m (${until})`);
  assert.deepEqual(r.holder, { owner: "vm-other-4242", until: Date.parse(until) });
  assert.equal(tickExitCode(r), 4);
});

test("schedule run --once: a busy lock and an unreachable source each end in one line and their exit code", async () => {
  const dir = fx.deps.local!.logDir;
  const spec = fx.spec("cli", "orders");
  const write = (file: string, port: number) => {
    writeFileSync(
      file,
      JSON.stringify({ ...spec, incremental: { ...spec.incremental, every: "5m", safetyLag: "0s" }, source: { ...spec.source, port } }),
    );
    return file;
  };
  const env = { SPOTFERRY_STATE_TABLE: fx.tableName };
  const down = await cli(["schedule", "run", "--once", "--config", write(join(dir, "down.json"), await closedPort())], env);
  assert.equal(down.code, 3, down.stderr);
  assert.match(down.stdout, /^cli: failed: connecting to the source [^\n]*ECONNREFUSED[^\n]*\n$/);

  // The CLI runs on the system clock, so this holder's lock is taken on the system clock too.
  const client = dynamoClient();
  const realClock = new DynamoScheduleStore({ client, tableName: fx.tableName, clock: systemClock });
  assert.ok(await realClock.acquireLease("cli", "vm-holder-7", 5 * 60_000));
  const busy = await cli(
    ["schedule", "run", "--once", "--config", write(join(dir, "up.json"), Number(requireEnv("SPOTFERRY_MYSQL_PORT")))],
    env,
  );
  assert.equal(busy.code, 4, busy.stderr);
  const until = new Date((await realClock.getSchedule("cli"))!.leaseUntil!).toISOString();
  // The relative part depends on how long the CLI took to start; the UTC instant is exact.
  assert.match(busy.stdout, /^cli: busy: schedule cli is being ticked by vm-holder-7; its lock expires in \d+m(\d+s)? \(([^)]+)\)\n$/);
  assert.equal(/\(([^)]+)\)\n$/.exec(busy.stdout)?.[1], until);
  client.destroy();
});

test("runs in the same second and the same minute list in run order", async () => {
  const spec = fx.spec("order", "orders", { incremental: { mode: "id", column: "id", every: "5m" } as never });
  const seen: string[] = [];
  for (const step of [0, 0, 30_000]) {
    await fx.clock.advance(step);
    await fx.insertOrders("orders", 5);
    const r = await tick(fx.deps, spec);
    assert.equal(r.action, "committed", r.message);
    seen.push(`lake/order/run=${r.run!.runAt}/`);
  }
  assert.equal(new Set(seen).size, 3);
  assert.deepEqual(await runDirs("order"), seen, "S3 lists the run directories in run order");
});
