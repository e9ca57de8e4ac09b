import { join } from "node:path";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { S3Client } from "@aws-sdk/client-s3";
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import type { ExportSpec } from "../../config/export-spec.ts";
import { loadConfigFile } from "../../config/load.ts";
import type { ExportRecord } from "../../config/records.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { durationFlag, exportIdFlag, intFlag, stateTableFlag } from "../../lib/cli/flags.ts";
import { addOutputOptions, emitData, formatNumber, type OutputFlags } from "../../lib/cli/output.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import type { ExportProgress } from "../../lib/jobs/job-store.ts";
import { openSource, resolveSourceLogin } from "../../lib/mysql/connect.ts";
import { openExportSource } from "../../lib/mysql/range-source.ts";
import { cliBin, repoRoot } from "../../lib/paths.ts";
import { RateWindow } from "../../lib/progress/rate-window.ts";
import { type FinalizeResult, finalizeExport, readManifest } from "../finalize/finalize.ts";
import { defaultProcesses, type LocalFleetResult, runLocalFleet } from "../local/local-fleet.ts";
import { duration } from "../oncall/format.ts";
import { exportIdFor } from "../planner/plan.ts";
import { MysqlSplitFinder } from "../planner/split-points.ts";
import { DynamoFleetStore } from "../store/dynamo-fleet-store.ts";
import { addVerifyConnectionOptions, type VerifyConnectionFlags, verifySource } from "../verify/connection.ts";
import { addVerifyModeOptions, type VerifyModeFlags, verifyOptions, verifyReportText } from "../verify/report-text.ts";
import { verifyExport } from "../verify/verify.ts";
import { checkBucket, commitExport, createBucket, prepareExport } from "./prepare.ts";

const log = (line: string) => process.stderr.write(`${line}\n`);

function openStore(tableName: string) {
  const client = dynamoClient();
  return { client, store: new DynamoJobStore({ client, tableName, clock: systemClock }) };
}

/** Plans the export unless one with the same id exists (re-running resumes it); every check comes before any write. */
async function planOrReuse(o: {
  client: DynamoDBClient;
  store: DynamoJobStore;
  s3: S3Client;
  tableName: string;
  spec: ExportSpec;
  exportId: string;
  createBucket: boolean;
  minPartitions?: number;
}): Promise<ExportRecord> {
  const mustCreate = await checkBucket(o.s3, o.spec.destination.bucket, o.createBucket);
  const prepared = await prepareExport(o);
  if (mustCreate) await createBucket(o.s3, o.spec.destination.bucket);
  if ("existing" in prepared) return prepared.existing;
  const { plan } = prepared;
  log(`planned ${o.exportId}: ${plan.partitions.length} partitions, ${plan.rows.toLocaleString("en-US")} rows (${plan.elapsedMs} ms)`);
  return (await commitExport({ ...o, plan })).export;
}

/** "ETA 2m29s" once a rate is known; "ETA –" before (never a made-up figure such as cli-progress's "NFs"). */
export function etaText(etaMs: number | null): string {
  return etaMs === null ? "–" : duration(etaMs / 1000);
}

/**
 * The progress of `export run --local` on stderr: a bar on a terminal, a line every 5 s otherwise. Rate and ETA come
 * from a RateWindow (the last 30 s, smoothed), not the run's lifetime average, which lags a run that sped up or
 * slowed down; until two samples give a rate, the ETA reads "–".
 */
export function progressBar(total: number, clock: Clock = systemClock, stream: NodeJS.WriteStream = process.stderr) {
  const window = new RateWindow({ windowMs: 30_000 });
  const figures = (p: ExportProgress) => {
    window.add(p.total.rows, clock.now());
    const rate = window.rate();
    const remaining = Math.max(0, Math.max(total, p.total.rows) - p.total.rows);
    return { rate: rate === null ? "–" : formatNumber(rate), eta: etaText(window.etaMs(remaining)) };
  };
  if (!stream.isTTY) {
    let last = Number.NEGATIVE_INFINITY;
    return {
      update(p: ExportProgress, agents: number) {
        const f = figures(p);
        if (clock.now() - last < 5000) return;
        last = clock.now();
        stream.write(
          `${p.byState.DONE.partitions}/${p.total.partitions} partitions, ${formatNumber(p.total.rows)} rows, ${f.rate} rows/s, ETA ${f.eta}, ${agents} agents\n`,
        );
      },
      stop() {},
    };
  }
  const bar = new SingleBar({
    format: "{bar} {percentage}% | {rows}/{totalRows} rows | {rate} rows/s | ETA {etaText} | partitions {done}/{parts} | agents {agents}",
    stream,
  });
  bar.start(Math.max(1, total), 0, { rate: "–", etaText: "–", rows: "0", totalRows: formatNumber(total), done: 0, parts: 0, agents: 0 });
  return {
    update(p: ExportProgress, agents: number) {
      const f = figures(p);
      const totalRows = Math.max(total, p.total.rows);
      bar.setTotal(Math.max(1, totalRows));
      bar.update(p.total.rows, {
        rate: f.rate,
        // Not `eta`: cli-progress overwrites that name with its own lifetime-average figure.
        etaText: f.eta,
        rows: formatNumber(p.total.rows),
        totalRows: formatNumber(totalRows),
        done: p.byState.DONE.partitions,
        parts: p.total.partitions,
        agents,
      });
    },
    stop: () => bar.stop(),
  };
}

/**
 * The local run: the controller's reconcilers over this machine's agent processes (controller/local/local-fleet.ts),
 * finalizing included, until the export is SUCCEEDED (or cannot be). The finalize result is kept for the summary.
 */
async function runLocally(o: {
  client: DynamoDBClient;
  store: DynamoJobStore;
  s3: S3Client;
  record: ExportRecord;
  tableName: string;
  workers: number;
  leaseSeconds: number;
  onProgress: (p: ExportProgress, agents: number) => void;
}): Promise<{ result: LocalFleetResult; fin: FinalizeResult }> {
  const { store, s3, record } = o;
  let fin: FinalizeResult | undefined;
  const finalize = async (exportId: string) => {
    const source = await openExportSource(record, systemClock);
    fin = await finalizeExport({ store, s3, clock: systemClock, schema: () => source.columns(), log }, exportId).finally(() =>
      source.close(),
    );
  };
  const splitter = new MysqlSplitFinder();
  const result = await runLocalFleet({
    jobs: store,
    fleet: new DynamoFleetStore({ client: o.client, tableName: o.tableName, clock: systemClock }),
    clock: systemClock,
    exportId: record.exportId,
    claimPool: record.spec.pool,
    stateTable: o.tableName,
    workers: o.workers,
    agentCommand: [process.execPath, cliBin],
    leaseSeconds: o.leaseSeconds,
    logDir: join(process.env.SPOTFERRY_HOME ?? join(repoRoot, ".spotferry"), "logs", record.exportId),
    finalize,
    splitter,
    onProgress: o.onProgress,
  }).finally(() => splitter.close());
  if (!result.done) throw new UserError(`export ${record.exportId} did not finish: ${result.reason ?? "stopped"}`);
  // Finalized by someone else meanwhile: finalizeExport answers a SUCCEEDED export from its record.
  if (!fin) await finalize(record.exportId);
  return { result, fin: fin! };
}

export function registerExportRunCommands(program: Command): void {
  const exp = program.commands.find((c) => c.name() === "export") ?? program.command("export");

  const run = exp
    .command("run")
    .description("plan (or resume) an export and run it; --local runs the agents as processes on this machine")
    .requiredOption("--config <file>", "export spec (kind: Export)")
    .option("--local", "run the agents on this machine instead of a fleet")
    .option("--workers <n>", "local agent processes", "4")
    .option("--id <id>", "export id (default: derived from the spec, so re-running resumes)")
    .option("--lease <seconds>", "partition lease for local agents", "15")
    .option("--create-bucket", "create the destination bucket when it does not exist")
    .option("--state-table <name>", "DynamoDB state table ($SPOTFERRY_STATE_TABLE, default spotferry)");
  addOutputOptions(run).action(
    (
      opts: OutputFlags & {
        config: string;
        local?: boolean;
        workers: string;
        id?: string;
        lease: string;
        createBucket?: boolean;
        stateTable?: string;
      },
    ) =>
      runCommand(async () => {
        if (!opts.local)
          throw new UserError("only --local is available from the CLI; fleets are run by `spotferry controller run`", {
            exitCode: ExitCode.usage,
          });
        // Every input is read and checked before anything is created: a refusal leaves no table, bucket or item.
        const workers = intFlag("--workers", opts.workers, { min: 1, max: 64 });
        const leaseSeconds = durationFlag("--lease", opts.lease, { min: 1, max: 86_400 });
        const tableName = stateTableFlag(opts.stateTable);
        const spec = await loadConfigFile(opts.config, "Export");
        const exportId = opts.id === undefined ? exportIdFor(spec) : exportIdFlag("--id", opts.id);
        // A secret that is missing, denied or malformed is refused here in one line, before any bucket or agent.
        await resolveSourceLogin(spec.source);
        const { client, store } = openStore(tableName);
        const s3 = s3Client();
        try {
          // At least a partition for every agent process from the start: idle processes would wait for the splitter.
          const minPartitions = workers * defaultProcesses(workers);
          const record = await planOrReuse({
            client,
            store,
            s3,
            tableName,
            spec,
            exportId,
            createBucket: !!opts.createBucket,
            minPartitions,
          });
          if (record.state === "SUCCEEDED") {
            log(`export ${record.exportId} already succeeded: s3://${spec.destination.bucket}/${record.manifestKey}`);
            await emitData(opts, { exportId: record.exportId, state: record.state, manifestKey: record.manifestKey });
            return ExitCode.ok;
          }
          const bar = progressBar(record.estimatedRows);
          const t0 = Date.now();
          const { result, fin } = await runLocally({
            client,
            store,
            s3,
            record,
            tableName,
            workers,
            leaseSeconds,
            onProgress: (p, n) => bar.update(p, n),
          }).finally(() => bar.stop());
          const seconds = (Date.now() - t0) / 1000;
          const summary = {
            exportId: record.exportId,
            state: "SUCCEEDED",
            seconds,
            ...fin,
            agentsStarted: result.agentsStarted,
            agentsDied: result.agentsDied,
            leasesReaped: result.reaped,
            leasesRevoked: result.revoked,
            localPool: result.pool,
          };
          if (!(await emitData(opts, summary)))
            process.stdout.write(
              `export ${record.exportId} SUCCEEDED: ${formatNumber(fin.rows)} rows, ${formatNumber(fin.chunks)} objects in ${seconds.toFixed(1)} s ` +
                `(${formatNumber(fin.rows / seconds)} rows/s); manifest s3://${spec.destination.bucket}/${fin.manifestKey}\n`,
            );
          return ExitCode.ok;
        } finally {
          client.destroy();
          s3.destroy();
        }
      }),
  );

  const verify = exp
    .command("verify")
    .description(
      "prove the output: compare every partition's objects in S3 with the source range (count and a checksum of every " +
        "column of every row); the connection comes from --config or the flags, never from the manifest",
    )
    .argument("<id>", "export id")
    .option("--state-table <name>", "DynamoDB state table, used only to find the manifest");
  addOutputOptions(verify);
  addVerifyModeOptions(verify);
  addVerifyConnectionOptions(verify).action((id: string, opts: VerifyFlags) => runCommand(() => exportVerify(id, opts)));
}

interface VerifyFlags extends VerifyConnectionFlags, VerifyModeFlags, OutputFlags {
  stateTable?: string;
}

async function exportVerify(id: string, opts: VerifyFlags): Promise<number> {
  const { client, store } = openStore(stateTableFlag(opts.stateTable));
  const s3 = s3Client();
  try {
    const record = await store.getExport(id);
    if (!record) throw new UserError(`export ${id} not found`);
    if (!record.manifestKey)
      throw new UserError(`export ${id} is ${record.state} and has no manifest yet`, { exitCode: ExitCode.checkFailed });
    const manifest = await readManifest(s3, record.spec.destination.bucket, record.manifestKey);
    const conn = await openSource(await verifySource(opts, manifest.spec.source));
    try {
      const report = await verifyExport({ s3, conn }, manifest, verifyOptions(opts));
      if (!(await emitData(opts, report))) process.stdout.write(verifyReportText(id, report));
      return report.mismatched.length === 0 ? ExitCode.ok : ExitCode.checkFailed;
    } finally {
      await conn.end();
    }
  } finally {
    client.destroy();
    s3.destroy();
  }
}
