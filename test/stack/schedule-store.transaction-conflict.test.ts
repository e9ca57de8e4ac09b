import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, type TestContext, test } from "node:test";
import { DynamoScheduleStore } from "../../controller/store/dynamo-schedule-store.ts";
import { ScheduleConflictError } from "../../controller/store/schedule-store.ts";
import { FakeClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { newRun } from "../contract/schedule-store.contract.ts";
import { requireEnv } from "../helpers/env.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/**
 * Regression: the schedule store once took a TransactionCanceledException whose reasons include TransactionConflict
 * (another transaction was touching the item: nothing was applied) for a failed condition, and reported a lost lease.
 * DynamoDB Local never answers that way on its own, so a real HTTP proxy in front of it does, once, exactly as
 * DynamoDB words it; lib/dynamo/access.ts must retry and the run must start or commit.
 */

const CANCELLED_BY_CONFLICT = JSON.stringify({
  __type: "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
  message: "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]",
  CancellationReasons: [{ Code: "None" }, { Code: "TransactionConflict", Message: "Transaction is ongoing for the item" }],
});

interface ConflictProxy {
  url: string;
  /** TransactWriteItems requests seen, and how many of them the proxy answered itself. */
  counts: { transactions: number; injected: number };
  close(): Promise<void>;
}

/** Forwards everything to `upstream`, but answers the first `conflicts` TransactWriteItems with a cancelled transaction. */
async function conflictProxy(options: { upstream: string; conflicts: number }): Promise<ConflictProxy> {
  const upstream = new URL(options.upstream);
  const counts = { transactions: 0, injected: 0 };
  const server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on("data", (b: Buffer) => body.push(b));
    req.on("end", () => {
      if (req.headers["x-amz-target"] === "DynamoDB_20120810.TransactWriteItems" && counts.transactions++ < options.conflicts) {
        counts.injected++;
        res.writeHead(400, {
          "content-type": "application/x-amz-json-1.0",
          "x-amzn-ErrorType": "TransactionCanceledException",
          "x-amzn-RequestId": randomUUID(),
        });
        res.end(CANCELLED_BY_CONFLICT);
        return;
      }
      const out = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.on("error", (err) => res.destroy(err));
      out.end(Buffer.concat(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

describe("DynamoScheduleStore: a transaction cancelled only by a TransactionConflict is retried, not a lost lease", () => {
  let table: Awaited<ReturnType<typeof tempStateTable>>;
  before(async () => {
    table = await tempStateTable("sched-conflict");
  });
  after(async () => table?.drop());

  /** A store whose requests go through a fresh proxy (closed after the test), and one that talks to DynamoDB directly. */
  async function stores(t: TestContext, conflicts: number) {
    const clock = new FakeClock();
    const proxy = await conflictProxy({ upstream: requireEnv("AWS_ENDPOINT_URL_DYNAMODB"), conflicts });
    const client = dynamoClient({ ...process.env, AWS_ENDPOINT_URL_DYNAMODB: proxy.url });
    t.after(async () => {
      client.destroy();
      await proxy.close();
    });
    return {
      proxy,
      proxied: new DynamoScheduleStore({ client, tableName: table.tableName, clock }),
      direct: new DynamoScheduleStore({ client: table.client, tableName: table.tableName, clock }),
    };
  }

  test("startRun succeeds when its first TransactWriteItems is cancelled by a conflict", async (t) => {
    const { proxy, proxied } = await stores(t, 1);
    await proxied.ensureSchedule("start");
    assert.equal(await proxied.acquireLease("start", "me", 60_000), true);
    const run = await proxied.startRun("start", "me", newRun(1, null, "10"));
    assert.equal(run.state, "RUNNING");
    assert.deepEqual(proxy.counts, { transactions: 2, injected: 1 }, "the conflict was answered once, then retried");
    const schedule = await proxied.getSchedule("start");
    assert.deepEqual([schedule?.currentRun, schedule?.lastSeq], [1, 1]);
    assert.deepEqual(await proxied.getRun("start", 1), run);
  });

  test("commitRun succeeds when its first TransactWriteItems is cancelled by a conflict", async (t) => {
    const { proxy, proxied, direct } = await stores(t, 1);
    await direct.ensureSchedule("commit");
    await direct.acquireLease("commit", "me", 60_000);
    await direct.startRun("commit", "me", newRun(1, null, "10"));
    const done = await proxied.commitRun("commit", "me", 1, { state: "COMMITTED", rows: 5, bytes: 50, quality: [], manifestKey: "m" });
    assert.equal(done.state, "COMMITTED");
    assert.deepEqual(proxy.counts, { transactions: 2, injected: 1 });
    const schedule = await direct.getSchedule("commit");
    assert.deepEqual([schedule?.watermark, schedule?.currentRun, schedule?.leaseOwner], ["10", null, "me"]);
  });

  test("through the same proxy, a condition DynamoDB itself refuses is still a ScheduleConflictError", async (t) => {
    const { proxy, proxied, direct } = await stores(t, 0);
    await direct.ensureSchedule("fenced");
    await direct.acquireLease("fenced", "me", 60_000);
    await direct.startRun("fenced", "me", newRun(1, null, "10"));
    const result = { state: "COMMITTED" as const, rows: 5, bytes: 50, quality: [], manifestKey: "m" };
    await assert.rejects(proxied.commitRun("fenced", "not-me", 1, result), ScheduleConflictError);
    assert.deepEqual(proxy.counts, { transactions: 1, injected: 0 }, "a failed condition is not retried");
    assert.equal((await direct.getSchedule("fenced"))?.watermark, null);
  });
});
