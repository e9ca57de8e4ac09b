import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoScheduleStore } from "../../controller/store/dynamo-schedule-store.ts";
import type { QualityResult, SchemaColumn, SchemaDriftReport } from "../../controller/store/schedule-store.ts";
import { FakeClock } from "../../lib/clock.ts";

/**
 * The incremental schedules of the on-call world (test/helpers/oncall-seed.ts), written through the real
 * ScheduleStore at fixed instants:
 * - calls-5m (policy evolve): runs 1-3 committed every 5 minutes (run 2 with a flagged null rate, run 3 with a column
 *   added and evolved), then an idle tick at 02:55 that found no new rows.
 * - billing-5m (policy freeze): run 1 committed; run 2 failed because amount was widened (needs a human).
 */
const DAY = "2026-03-02";
const at = (hhmm: string) => Date.parse(`${DAY}T${hhmm}:00Z`);
const stamp = (hhmmss: string) => `${DAY} ${hhmmss}.000000`;
const OWNER = "scheduler-a:5151";

const schema = (cols: [string, string][]): SchemaColumn[] =>
  cols.map(([name, type], i) => ({ name, type, nullable: name === "notes", position: i + 1 }));
const CALLS = schema([
  ["id", "bigint(20) unsigned"],
  ["customer_id", "int(10) unsigned"],
  ["notes", "varchar(200)"],
  ["updated_at", "datetime(6)"],
]);
const BILLING = schema([
  ["id", "bigint(20) unsigned"],
  ["amount", "decimal(10,2)"],
  ["updated_at", "datetime(6)"],
]);

const pass = (rule: string, message: string, columns?: string[]): QualityResult => ({
  rule,
  ...(columns ? { columns } : {}),
  policy: "fail",
  passed: true,
  observed: {},
  message,
});
const flagged = (rule: string, message: string, columns: string[]): QualityResult => ({
  rule,
  columns,
  policy: "flag",
  passed: false,
  observed: {},
  message,
});
const noDrift = (policy: SchemaDriftReport["policy"]): SchemaDriftReport => ({
  policy,
  changes: [],
  action: "none",
  message: "no schema change",
});

interface SeedRun {
  at: string;
  lo: string | null;
  hi: string;
  rows: number;
  schema: SchemaColumn[];
  drift: SchemaDriftReport;
  quality?: QualityResult[];
  /** The run fails (before any row is written) with this error instead of committing. */
  error?: string;
}

export async function seedSchedules(client: DynamoDBClient, tableName: string): Promise<void> {
  const clock = new FakeClock(at("02:40"));
  const store = new DynamoScheduleStore({ client, tableName, clock });
  const run = async (name: string, seq: number, r: SeedRun) => {
    clock.set(at(r.at));
    await store.ensureSchedule(name);
    if (!(await store.acquireLease(name, OWNER, 600_000))) throw new Error(`seed: lease of ${name}`);
    const runAt = `${DAY}T${r.at.replace(":", "-")}`;
    const columns = r.schema.map((c) => c.name);
    await store.startRun(name, OWNER, {
      seq,
      lo: r.lo,
      hi: r.hi,
      runAt,
      sourceRows: r.rows,
      dbNow: stamp(`${r.at}:00`),
      schema: r.schema,
      columns,
      drift: r.drift,
    });
    clock.set(at(r.at) + 40_000);
    if (r.error) await store.updateRun(name, OWNER, seq, { state: "FAILED", error: r.error });
    else {
      await store.updateRun(name, OWNER, seq, { exportId: `${name}/run=${runAt}` });
      await store.commitRun(name, OWNER, seq, {
        state: "COMMITTED",
        rows: r.rows,
        bytes: r.rows * 52,
        quality: r.quality ?? [],
        manifestKey: `oncall/${name}/run=${runAt}/_manifest.json`,
      });
    }
    await store.releaseLease(name, OWNER);
  };

  const calls = (rows: number, nullRate: string) => [
    pass("row-count", `${rows} rows exported, ${rows} in the source range`),
    pass("distinct", `no duplicate id among ${rows} rows`, ["id"]),
    ...(nullRate.startsWith("0.2")
      ? [flagged("null-rate", `notes is NULL in ${nullRate} of rows (max 0.2)`, ["notes"])]
      : [pass("null-rate", `notes is NULL in ${nullRate} of rows (max 0.2)`, ["notes"])]),
  ];
  await run("calls-5m", 1, {
    at: "02:40",
    lo: null,
    hi: stamp("02:39:30"),
    rows: 120_000,
    schema: CALLS,
    drift: noDrift("evolve"),
    quality: calls(120_000, "0.143"),
  });
  await run("billing-5m", 1, { at: "02:41", lo: null, hi: stamp("02:40:30"), rows: 5_000, schema: BILLING, drift: noDrift("freeze") });
  await run("calls-5m", 2, {
    at: "02:45",
    lo: stamp("02:39:30"),
    hi: stamp("02:44:30"),
    rows: 3_400,
    schema: CALLS,
    drift: noDrift("evolve"),
    quality: calls(3_400, "0.251"),
  });
  const widened = "schemaDrift is freeze and the source changed: amount widened decimal(10,2) -> decimal(12,2)";
  await run("billing-5m", 2, {
    at: "02:46",
    lo: stamp("02:40:30"),
    hi: stamp("02:45:30"),
    rows: 210,
    schema: schema([
      ["id", "bigint(20) unsigned"],
      ["amount", "decimal(12,2)"],
      ["updated_at", "datetime(6)"],
    ]),
    drift: {
      policy: "freeze",
      changes: [{ kind: "widened", column: "amount", from: "decimal(10,2)", to: "decimal(12,2)" }],
      action: "failed",
      message: widened,
    },
    error: widened,
  });
  await run("calls-5m", 3, {
    at: "02:50",
    lo: stamp("02:44:30"),
    hi: stamp("02:49:30"),
    rows: 2_950,
    schema: [...CALLS, { name: "region", type: "varchar(8)", nullable: true, position: 5 }],
    drift: {
      policy: "evolve",
      changes: [{ kind: "added", column: "region", to: "varchar(8)" }],
      action: "evolved",
      message: "evolved: added region",
    },
    quality: calls(2_950, "0.139"),
  });
  clock.set(at("02:55"));
  await store.acquireLease("calls-5m", OWNER, 600_000);
  await store.touch("calls-5m", OWNER, `no new rows after ${stamp("02:49:30")} (checked up to ${stamp("02:49:30")})`);
  await store.releaseLease("calls-5m", OWNER);
}
