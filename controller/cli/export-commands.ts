import type { Command } from "commander";
import { loadConfigFile } from "../../config/load.ts";
import type { ExportRecord, PartitionRecord, PartitionState, SourceKey } from "../../config/records.ts";
import { exportIdFlag, intFlag, stateTableFlag } from "../../lib/cli/flags.ts";
import {
  addOutputOptions,
  type Column,
  type DataFormat,
  dataFormat,
  emitData,
  formatNumber,
  isWide,
  type OutputFlags,
  outputFormat,
  printData,
  renderColumns,
} from "../../lib/cli/output.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import type { ExportProgress } from "../../lib/jobs/job-store.ts";
import { describeEstimate, type ExportEstimate } from "../estimate/index.ts";
import { planTimeEstimate } from "../estimate/plan-time.ts";
import { formatUsd } from "../oncall/cost.ts";
import { cliClock } from "../oncall/format.ts";
import { fractionDone } from "../oncall/status.ts";
import { type ExportPlan, exportIdFor } from "../planner/plan.ts";
import { histogram, renderHistogram } from "./oncall-render.ts";
import { commitExport, prepareExport } from "./prepare.ts";

const STATES: PartitionState[] = ["LEASED", "PENDING", "QUARANTINED", "DONE"];
const n = formatNumber;

function openStore(tableName: string) {
  const client = dynamoClient();
  return { client, store: new DynamoJobStore({ client, tableName, clock: systemClock }) };
}

/** `[1]` -> `1`; composite keys in parentheses; open ends named. */
export function formatKey(key: SourceKey | null, open: string): string {
  if (key === null) return open;
  const text = key.map((v) => (v.length > 28 ? `${v.slice(0, 25)}...` : v)).join(", ");
  return key.length === 1 ? text : `(${text})`;
}

function ago(iso: string | null, now: number): string {
  if (!iso) return "";
  const s = Math.round((Date.parse(iso) - now) / 1000);
  return s >= 0 ? `in ${s}s` : `${-s}s ago`;
}

export function registerExportCommands(program: Command): void {
  const exp = program.command("export");

  const planCmd = exp
    .command("plan")
    .description("plan an export from a spec: cut the table into partitions through its index and record them")
    .requiredOption("--config <file>", "export spec (YAML or JSON, kind: Export)")
    .option("--id <id>", "export id (default: the spec's name and a digest of the spec, so re-planning finds it)")
    .option("--state-table <name>", "DynamoDB state table (default: $SPOTFERRY_STATE_TABLE or spotferry)")
    .option("--dry-run", "plan and estimate only: write nothing (no state table, no export)");
  addOutputOptions(planCmd).action((opts: OutputFlags & { config: string; id?: string; stateTable?: string; dryRun?: boolean }) =>
    runCommand(async () => {
      const format = dataFormat(outputFormat(opts));
      // Input first (flags, the file, then the source's schema while planning): a refusal leaves no table or item.
      const tableName = stateTableFlag(opts.stateTable);
      const spec = await loadConfigFile(opts.config, "Export");
      const exportId = opts.id === undefined ? exportIdFor(spec) : exportIdFlag("--id", opts.id);
      const { client, store } = openStore(tableName);
      try {
        const tty = !format && process.stderr.isTTY;
        const prepared = await prepareExport({
          client,
          store,
          tableName,
          spec,
          exportId,
          onProgress: (b) => (tty ? process.stderr.write(`\r${b} boundaries found`) : undefined),
        });
        if (tty) process.stderr.write("\r\x1b[K");
        // The estimate (controller/estimate/) reads only; printed under the plan, or as `estimate` in the JSON.
        const shape = "existing" in prepared ? prepared.existing : prepared.plan;
        const estimate = await planTimeEstimate({
          client,
          tableName,
          jobs: store,
          spec,
          exportId,
          keyIndex: shape.keyIndex,
          keyColumns: shape.keyColumns,
          rows: "existing" in prepared ? prepared.existing.estimatedRows : prepared.plan.rows,
          partitions: "existing" in prepared ? prepared.existing.partitionCount : prepared.plan.partitions.length,
        });
        if (opts.dryRun) return dryRunReport({ exportId, plan: "existing" in prepared ? null : prepared.plan, estimate, format });
        if ("existing" in prepared) return report({ record: prepared.existing, created: false, plan: null, format, estimate });
        const result = await commitExport({ client, store, tableName, spec, plan: prepared.plan, exportId });
        const { export: record, created, planDiffers } = result;
        return report({ record, created, plan: prepared.plan, format, planDiffers, estimate });
      } finally {
        client.destroy();
      }
    }),
  );

  const show = exp
    .command("show")
    .description("show an export and its partitions by state")
    .argument("<id>", "export id (as printed by `export plan`)")
    .option("--state <state>", `only partitions in this state (${STATES.join("|")})`)
    .option("--limit <n>", "partition rows to print (tables only)", "50")
    .option("--state-table <name>", "DynamoDB state table (default: $SPOTFERRY_STATE_TABLE or spotferry)");
  addOutputOptions(show).action((id: string, opts: OutputFlags & { state?: string; limit: string; stateTable?: string }) =>
    runCommand(async () => {
      const state = opts.state?.toUpperCase() as PartitionState | undefined;
      if (state && !STATES.includes(state)) {
        throw new UserError(`--state: expected one of ${STATES.join("|")}, got "${opts.state}"`, { exitCode: ExitCode.usage });
      }
      const limit = intFlag("--limit", opts.limit, { min: 0, max: 1_000_000 });
      const tableName = stateTableFlag(opts.stateTable);
      const { client, store } = openStore(tableName);
      try {
        const record = await store.getExport(id).catch((cause) => {
          if ((cause as Error).cause instanceof Error && ((cause as Error).cause as Error).name === "ResourceNotFoundException") {
            throw new UserError(`state table ${tableName} does not exist (plan an export first)`);
          }
          throw cause;
        });
        if (!record) throw new UserError(`export ${id} not found`);
        const [progress, partitions] = await Promise.all([store.progress(id), allPartitions(store, id, state)]);
        // The histogram is over every partition, whatever --state selects.
        const fractions = (state ? await allPartitions(store, id) : partitions).map(fractionDone);
        if (await emitData(opts, { export: record, progress, histogram: histogram(fractions), partitions })) return;
        printShow({ record, progress, partitions, limit, fractions, wide: isWide(opts) });
      } finally {
        client.destroy();
      }
    }),
  );
}

async function allPartitions(store: DynamoJobStore, id: string, state?: PartitionState): Promise<PartitionRecord[]> {
  const out: PartitionRecord[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await store.listPartitions(id, { state, after, limit: 1000 });
    out.push(...page.items);
    if (page.next === null) return out;
    after = page.next;
  }
}

async function dryRunReport(o: { exportId: string; plan: ExportPlan | null; estimate: ExportEstimate; format: DataFormat | null }) {
  const { exportId, plan, estimate } = o;
  const figures = plan && { rows: plan.rows, partitions: plan.partitions.length, step: plan.step, elapsedMs: plan.elapsedMs };
  if (o.format) return printData({ exportId, dryRun: true, plan: figures, estimate }, o.format);
  const what = plan ? `would be created with ${n(plan.partitions.length)} partitions` : "already exists";
  process.stdout.write(`export ${exportId}: dry run, nothing written; ${what}\n${describeEstimate(estimate).join("\n")}\n`);
}

interface PlanReport {
  record: ExportRecord;
  created: boolean;
  plan: ExportPlan | null;
  format: DataFormat | null;
  planDiffers?: boolean;
  estimate?: ExportEstimate;
}

async function report(o: PlanReport): Promise<void> {
  const { record, created, plan, planDiffers = false, estimate } = o;
  if (o.format) {
    const figures = plan && { rows: plan.rows, step: plan.step, dives: plan.dives, elapsedMs: plan.elapsedMs };
    const data = {
      exportId: record.exportId,
      created,
      planDiffers,
      partitionCount: record.partitionCount,
      plan: figures,
      export: record,
      estimate,
    };
    return printData(data, o.format);
  }
  const out = process.stdout;
  if (created) out.write(`export ${record.exportId}: created with ${n(record.partitionCount)} partitions\n`);
  else
    out.write(
      `export ${record.exportId}: already exists (${record.state}, ${n(record.partitionCount)} partitions); nothing was duplicated\n`,
    );
  if (planDiffers) out.write("  note: the source changed since it was planned; the existing plan is kept\n");
  const key = record.keyColumns.map((k) => `${k.name} ${k.sqlType}`).join(", ");
  out.write(`  key:            ${record.keyIndex} (${key})\n`);
  out.write(`  rows:           ${n(record.estimatedRows)} at plan time\n`);
  out.write(`  high watermark: ${formatKey(record.highWatermark, "none (empty table)")}\n`);
  if (plan) {
    // Estimated plans (controller/planner/estimate.ts) count range estimates; the splitter corrects them at run time.
    const how = plan.estimated ? `${n(plan.probes)} range estimates (row counts are estimates)` : `${n(plan.dives)} index dives`;
    out.write(`  planned in ${(plan.elapsedMs / 1000).toFixed(2)} s with ${how}\n`);
  }
  if (estimate) out.write(`${describeEstimate(estimate).join("\n")}\n`);
}

interface ShowInput {
  record: ExportRecord;
  progress: ExportProgress;
  partitions: PartitionRecord[];
  limit: number;
  fractions: number[];
  wide: boolean;
}

const SUMMARY_COLUMNS: Column<[PartitionState, ExportProgress["byState"][PartitionState]]>[] = [
  { header: "state", value: ([s]) => s },
  { header: "partitions", value: ([, b]) => b.partitions, align: "right" },
  { header: "rows", value: ([, b]) => b.rows, align: "right" },
  { header: "est-rows", value: ([, b]) => b.estimatedRows, align: "right" },
  { header: "chunks", value: ([, b]) => b.chunks, align: "right" },
];

function partitionColumns(now: number): Column<PartitionRecord>[] {
  return [
    { header: "#", value: (p) => p.partition, align: "right" },
    { header: "state", value: (p) => p.state },
    { header: "owner", value: (p) => p.owner },
    { header: "epoch", value: (p) => p.epoch, align: "right" },
    {
      header: "lease",
      value: (p) =>
        p.state === "LEASED"
          ? ago(p.leaseExpiresAt, now)
          : p.state === "PENDING" && p.notBefore && Date.parse(p.notBefore) > now
            ? `retry ${ago(p.notBefore, now)}`
            : "",
    },
    { header: "lo", value: (p) => formatKey(p.lo, "start") },
    { header: "hi", value: (p) => formatKey(p.hi, "end") },
    { header: "cursor", value: (p) => formatKey(p.cursor, "") },
    { header: "rows", value: (p) => p.rows, align: "right" },
    { header: "est-rows", value: (p) => p.estimatedRows, align: "right", wide: true },
    { header: "chunks", value: (p) => p.chunks, align: "right" },
    { header: "tries", value: (p) => p.attempts, align: "right" },
    { header: "split-from", value: (p) => (p.splitFrom === null ? "" : String(p.splitFrom)), wide: true },
    { header: "last-error", value: (p) => p.lastError?.slice(0, 40), wide: false },
  ];
}

function printShow(o: ShowInput): void {
  const { record, progress, partitions, limit, fractions } = o;
  const out = process.stdout;
  const src = record.spec.source;
  const dst = record.spec.destination;
  out.write(`export ${record.exportId}  ${record.state}\n`);
  const hold = record.costHold;
  if (hold) {
    out.write(
      `  NEEDS A HUMAN: spend cap: projected ${formatUsd(hold.projectedUsd)} passes maxCost ${formatUsd(hold.capUsd)} (spent ${formatUsd(hold.spentUsd)} at ${hold.at}); no more nodes are launched for it\n`,
    );
  }
  out.write(`  ${src.database}.${src.table} -> s3://${dst.bucket}/${dst.prefix} (${dst.format}), pool ${record.spec.pool}\n`);
  out.write(
    `  key ${record.keyIndex} (${record.keyColumns.map((k) => k.name).join(", ")}), high watermark ${formatKey(record.highWatermark, "none")}\n`,
  );
  const t = progress.total;
  const pct = t.estimatedRows > 0 ? ` (${((100 * t.rows) / t.estimatedRows).toFixed(1)}%)` : "";
  out.write(`  ${n(t.rows)} of ${n(t.estimatedRows)} rows exported${pct}, ${n(t.chunks)} chunks\n\n`);

  out.write(renderColumns(SUMMARY_COLUMNS, STATES.map((st) => [st, progress.byState[st]] as const) as never));
  const owners = Object.entries(progress.owners);
  if (owners.length > 0) out.write(`  leased by: ${owners.map(([o, c]) => `${o} (${c})`).join(", ")}\n`);
  out.write(`\npartitions by progress (rows committed / planned rows)\n${renderHistogram(fractions)}`);

  const ordered = STATES.flatMap((s) => partitions.filter((p) => p.state === s));
  if (ordered.length === 0 || limit === 0) return;
  const now = cliClock().now();
  const columns = partitionColumns(now);
  // -o wide shows whole error messages (last, so the other columns stay aligned).
  if (o.wide) columns.splice(-1, 1, { header: "last-error", value: (p) => p.lastError, wide: true });
  out.write(`\n${renderColumns(columns, ordered.slice(0, limit), { wide: o.wide })}`);
  if (ordered.length > limit) out.write(`  ... ${n(ordered.length - limit)} more partitions (use --state, --limit or -o json)\n`);
}
