/**
 * A good export's time alone against its time with a poisoned neighbour in the same pool (issue 14: target <= 1.2x),
 * against the local stack (`set -a; . .spotferry/local.env; set +a`). The neighbour's record cannot be decoded
 * (`chunk.maxBytes: 0`, as an older planner could write it), so every claim of one of its partitions fails; with the
 * fixture's retry policy (3 attempts, backoff 1 s) those failures land while the good export runs, the worst case
 * for it. Two in-process agents; each variant plans a fresh export of the same table. Never asserts times.
 *
 *   node test/bench/poison-neighbour.bench.ts [--rows 200000] [--agents 2] [--repeat 1]
 */
import { parseArgs } from "node:util";
import { Agent } from "../../agent/agent.ts";
import type { ExportSpec } from "../../config/export-spec.ts";
import type { ExportRecord } from "../../config/records.ts";
import { agentSettings } from "../../config/settings.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import { systemClock } from "../../lib/clock.ts";
import { conditionalUpdate, dynamoContext } from "../../lib/dynamo/access.ts";
import { exportPk, META } from "../../lib/dynamo/keys.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { type ExportFixture, exportFixture } from "../helpers/export-fixture.ts";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "200000" },
    agents: { type: "string", default: "2" },
    repeat: { type: "string", default: "1" },
  },
});
const rows = Number(values.rows);

async function plan(fx: ExportFixture, spec: ExportSpec): Promise<ExportRecord> {
  const conn = await openSource(spec.source);
  try {
    return (await fx.store.createExport(toNewExport(exportIdFor(spec), spec, await planExport(spec, { conn, clock: systemClock })))).export;
  } finally {
    await conn.end();
  }
}

async function poison(fx: ExportFixture, exportId: string): Promise<void> {
  await conditionalUpdate(
    dynamoContext({ client: fx.ddb, tableName: fx.tableName, clock: systemClock }),
    {
      Key: { pk: exportPk(exportId), sk: META },
      UpdateExpression: "SET #sp.#de.#ch.maxBytes = :zero",
      ExpressionAttributeNames: { "#sp": "spec", "#de": "destination", "#ch": "chunk" },
      ExpressionAttributeValues: { ":zero": 0 },
    },
    "poisoning the neighbour's record",
  );
}

/** Seconds from the agents' start until every partition of `good` is DONE; also how many attempts the neighbour failed. */
async function timeRun(fx: ExportFixture, good: ExportRecord, neighbour: string | null): Promise<{ secs: number; failed: number }> {
  const agents = Array.from(
    { length: Number(values.agents) },
    (_, i) =>
      new Agent({
        store: fx.store,
        s3: fx.s3,
        clock: systemClock,
        settings: { ...agentSettings.parse({ pool: fx.spec.pool, stateTable: fx.tableName, idleExitAfter: 3600 }), nodeId: `b${i}` },
        log: () => {},
      }),
  );
  const t0 = performance.now();
  const runs = agents.map((a) => a.run());
  for (;;) {
    const p = await fx.store.progress(good.exportId);
    if (p.byState.DONE.partitions === p.total.partitions) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const secs = (performance.now() - t0) / 1000;
  for (const a of agents) a.drain({ mode: "now", interrupted: false, reason: "bench over" });
  await Promise.all(runs);
  let failed = 0;
  if (neighbour) for (const x of (await fx.store.listPartitions(neighbour)).items) failed += x.attempts;
  return { secs, failed };
}

const fx = await exportFixture({ rows, chunkRows: 10_000, targetRows: 20_000 });
try {
  for (let r = 0; r < Number(values.repeat); r++) {
    const alone = await timeRun(fx, await plan(fx, { ...fx.spec, name: `${fx.spec.name}-a${r}`.slice(0, 60) }), null);
    const good = await plan(fx, { ...fx.spec, name: `${fx.spec.name}-g${r}`.slice(0, 60) });
    const bad = await plan(fx, { ...fx.spec, name: `${fx.spec.name}-p${r}`.slice(0, 60) });
    await poison(fx, bad.exportId);
    const withPoison = await timeRun(fx, good, bad.exportId);
    process.stdout.write(
      `${rows.toLocaleString("en-US")} rows, ${good.partitionCount} partitions, ${values.agents} agents: alone ${alone.secs.toFixed(2)} s; ` +
        `with a poisoned neighbour (${bad.partitionCount} partitions, ${withPoison.failed} failed attempts meanwhile) ` +
        `${withPoison.secs.toFixed(2)} s = ${(withPoison.secs / alone.secs).toFixed(2)}x\n`,
    );
  }
} finally {
  await fx.cleanup();
}
