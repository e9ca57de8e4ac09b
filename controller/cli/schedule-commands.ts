import { hostname } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { loadConfigFile } from "../../config/load.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { durationFlag, intFlag, stateTableFlag } from "../../lib/cli/flags.ts";
import { addOutputOptions, type Column, emitData, isWide, type OutputFlags, renderColumns } from "../../lib/cli/output.ts";
import { printJson, runCommand } from "../../lib/cli/run.ts";
import { systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { ensureStateTable } from "../../lib/dynamo/table.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { openSource, resolveSourceLogin } from "../../lib/mysql/connect.ts";
import { cliBin, repoRoot } from "../../lib/paths.ts";
import { runSchedule, type SchedulerDeps, type TickResult, tick, tickExitCode } from "../schedule/scheduler.ts";
import { DynamoScheduleStore } from "../store/dynamo-schedule-store.ts";
import type { RunRecord } from "../store/schedule-store.ts";
import { addVerifyConnectionOptions, type VerifyConnectionFlags, verifySource } from "../verify/connection.ts";
import { addVerifyModeOptions, keyLines, type VerifyModeFlags, verifyOptions } from "../verify/report-text.ts";
import { verifySchedule } from "../verify/schedule-verify.ts";
import { checkBucket, createBucket } from "./prepare.ts";

/**
 * `spotferry schedule run --config FILE [--once] [--local --workers N]`: incremental runs of an export spec with an
 * `incremental` block, every `incremental.every` (or one tick with --once, for cron or a Lambda). `schedule status`
 * lists the runs with their watermark range, rows, drift and quality results; `schedule verify NAME` proves the
 * output (newest version per key over the committed runs) equals the source up to the watermark.
 */
const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

function stores(tableName: string) {
  const client = dynamoClient();
  return {
    client,
    jobs: new DynamoJobStore({ client, tableName, clock: systemClock }),
    schedules: new DynamoScheduleStore({ client, tableName, clock: systemClock }),
  };
}

export function registerScheduleCommands(program: Command): void {
  const sched = program.command("schedule");
  registerScheduleRun(sched);
  registerScheduleVerify(sched);
  registerScheduleStatus(sched);
}

interface RunFlags {
  config: string;
  once?: boolean;
  local?: boolean;
  workers: string;
  lease: string;
  createBucket?: boolean;
  stateTable?: string;
  json?: boolean;
}

function registerScheduleRun(sched: Command): void {
  sched
    .command("run")
    .description(
      "run an incremental export every incremental.every (--once: one tick, for cron; exit 0 when it did its part, " +
        "4 when another scheduler holds the lock or the run failed, 3 when the source cannot be reached)",
    )
    .requiredOption("--config <file>", "export spec with an incremental block")
    .option("--once", "one tick: continue the run in flight or start one if there are new rows, then exit")
    .option("--local", "run each run's partitions on agent processes here (default: the controller's fleet)")
    .option("--workers <n>", "local agent processes", "2")
    .option("--lease <seconds>", "partition lease for local agents", "15")
    .option("--create-bucket", "create the destination bucket when it does not exist")
    .option("--state-table <name>", "DynamoDB state table ($SPOTFERRY_STATE_TABLE, default spotferry)")
    .option("--json", "print each tick's result as JSON")
    .action((opts: RunFlags) => runCommand(() => scheduleRun(opts)));
}

async function scheduleRun(opts: RunFlags): Promise<number> {
  // Every input is read and checked before anything is created: a refusal leaves no table or bucket behind.
  const workers = intFlag("--workers", opts.workers, { min: 1, max: 64 });
  const leaseSeconds = durationFlag("--lease", opts.lease, { min: 1, max: 86_400 });
  const tableName = stateTableFlag(opts.stateTable);
  const spec = await loadConfigFile(opts.config, "Export");
  if (!spec.incremental)
    throw new UserError(`${opts.config}: no incremental block; see config/incremental-spec.ts`, { exitCode: ExitCode.usage });
  await resolveSourceLogin(spec.source);
  const { client, jobs, schedules } = stores(tableName);
  const s3 = s3Client();
  try {
    const mustCreate = await checkBucket(s3, spec.destination.bucket, !!opts.createBucket);
    await ensureStateTable(client, tableName);
    if (mustCreate) await createBucket(s3, spec.destination.bucket);
    const deps: SchedulerDeps = {
      jobs,
      schedules,
      s3,
      clock: systemClock,
      owner: `${hostname()}-${process.pid}`,
      log,
      ...(opts.local ? { local: localAgents({ workers, tableName, leaseSeconds }) } : {}),
    };
    const report = (r: TickResult) => {
      if (opts.json) printJson(r);
      else process.stdout.write(`${spec.name}: ${r.action}: ${r.message}\n`);
    };
    if (opts.once) {
      const r = await tick(deps, spec);
      report(r);
      return tickExitCode(r);
    }
    const stop = new AbortController();
    process.once("SIGINT", () => stop.abort());
    process.once("SIGTERM", () => stop.abort());
    await runSchedule(deps, spec, stop.signal, report);
    return ExitCode.ok;
  } finally {
    client.destroy();
    s3.destroy();
  }
}

function localAgents(o: { workers: number; tableName: string; leaseSeconds: number }): NonNullable<SchedulerDeps["local"]> {
  return {
    workers: o.workers,
    stateTable: o.tableName,
    agentCommand: [process.execPath, cliBin],
    leaseSeconds: o.leaseSeconds,
    logDir: join(process.env.SPOTFERRY_HOME ?? join(repoRoot, ".spotferry"), "logs", "schedules"),
  };
}

interface VerifyFlags extends VerifyConnectionFlags, VerifyModeFlags {
  stateTable?: string;
  json?: boolean;
}

function registerScheduleVerify(sched: Command): void {
  const verify = sched
    .command("verify")
    .description(
      "prove the output equals the source: newest version per key over every committed run vs the source up to the watermark " +
        "(count and checksum of every column of every row; the differing keys by hash buckets); rows deleted in the source are " +
        "out of scope (never captured); exit 0, or 4 with mismatches",
    )
    .argument("<name>", "schedule (export spec) name")
    .option("--state-table <name>", "DynamoDB state table (finds the runs and their manifests)")
    .option("--json", "print the report as JSON");
  addVerifyModeOptions(verify);
  // The connection comes from --config or the flags, never from the manifests in the bucket.
  addVerifyConnectionOptions(verify).action((name: string, opts: VerifyFlags) => runCommand(() => scheduleVerify(name, opts)));
}

async function scheduleVerify(name: string, opts: VerifyFlags): Promise<number> {
  const { client, jobs, schedules } = stores(stateTableFlag(opts.stateTable));
  const s3 = s3Client();
  try {
    if (!(await schedules.getSchedule(name))) throw new UserError(`schedule ${name} not found`);
    const report = await verifySchedule(
      { s3, schedules, jobs, connect: async (source) => openSource(await verifySource(opts, source)) },
      name,
      { ...verifyOptions(opts), rows: verifyOptions(opts).rows ?? 20 },
    );
    if (opts.json) printJson(report);
    else {
      for (const p of report.problems) process.stdout.write(`${p}\n`);
      process.stdout.write(keyLines("", report.keys));
      process.stdout.write(
        `verify schedule ${name}: ${report.runs} committed runs up to ${report.watermark ?? "-"}, ${report.objects} objects, ` +
          `${report.versionsRead.toLocaleString("en-US")} row versions read; newest per key: ${report.s3.rows.toLocaleString("en-US")} rows ` +
          `in S3, ${report.source.rows.toLocaleString("en-US")} in the source; ${report.pending} changed since the last run (not compared); ` +
          `${report.ok ? "EQUAL" : "MISMATCH"}\n`,
      );
    }
    return report.ok ? ExitCode.ok : ExitCode.checkFailed;
  } finally {
    client.destroy();
    s3.destroy();
  }
}

interface StatusFlags extends OutputFlags {
  name: string;
  limit: string;
  stateTable?: string;
}

function registerScheduleStatus(sched: Command): void {
  const cmd = sched
    .command("status")
    .description("the schedule's watermark and its runs: bounds, rows, schema drift, quality")
    .requiredOption("--name <name>", "schedule (export spec) name")
    .option("--limit <n>", "runs to show", "20")
    .option("--state-table <name>", "DynamoDB state table");
  addOutputOptions(cmd).action((opts: StatusFlags) => runCommand(() => scheduleStatus(opts)));
}

async function scheduleStatus(opts: StatusFlags): Promise<number> {
  const limit = intFlag("--limit", opts.limit, { min: 1, max: 100_000 });
  const { client, schedules } = stores(stateTableFlag(opts.stateTable));
  try {
    const s = await schedules.getSchedule(opts.name);
    if (!s) throw new UserError(`schedule ${opts.name} not found`, { exitCode: ExitCode.usage });
    const runs = await schedules.listRuns(opts.name, { limit });
    if (await emitData(opts, { schedule: s, runs })) return ExitCode.ok;
    process.stdout.write(
      `schedule ${s.name}: watermark ${s.watermark ?? "(none yet)"}, ${s.lastSeq} runs, ` +
        `${s.currentRun === null ? "no run in flight" : `run ${s.currentRun} in flight`}` +
        `${s.lastNote ? `; last check ${s.lastCheckedAt}: ${s.lastNote}` : ""}\n`,
    );
    process.stdout.write(runsTable(runs, isWide(opts)));
    return ExitCode.ok;
  } finally {
    client.destroy();
  }
}

function runsTable(runs: readonly RunRecord[], wide: boolean): string {
  const quality = (r: RunRecord) => {
    const q = r.quality.length ? `${r.quality.filter((x) => x.passed).length}/${r.quality.length} passed` : "-";
    const flagged = r.quality.filter((x) => !x.passed).map((x) => `${x.policy === "flag" ? "flag" : "FAIL"} ${x.rule}`);
    return [q, ...flagged].join("; ");
  };
  const columns: Column<RunRecord>[] = [
    { header: "run", value: (r) => `${r.seq}${r.attempt > 1 ? `(a${r.attempt})` : ""}` },
    { header: "state", value: (r) => r.state },
    { header: "dir", value: (r) => `run=${r.runAt}` },
    { header: "after", value: (r) => r.lo ?? "-" },
    { header: "up to", value: (r) => r.hi },
    { header: "rows", value: (r) => r.rows, align: "right" },
    {
      header: "drift",
      value: (r) => (r.drift.changes.length ? `${r.drift.action}: ${r.drift.changes.map((c) => `${c.kind} ${c.column}`).join(", ")}` : "-"),
    },
    { header: "quality", value: quality },
    { header: "error", value: (r) => (wide ? r.error : r.error?.slice(0, 60)) ?? "-" },
  ];
  return renderColumns(columns, [...runs], { wide });
}
