import Table from "cli-table3";
import type { Command } from "commander";
import { loadConfigFile } from "../../config/load.ts";
import type { ExportRecord, PartitionRecord, PartitionState, SourceKey } from "../../config/records.ts";
import { exportIdFlag, intFlag, stateTableFlag } from "../../lib/cli/flags.ts";
import { printJson, runCommand } from "../../lib/cli/run.ts";
import { systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import type { ExportProgress } from "../../lib/jobs/job-store.ts";
import { cliClock } from "../oncall/format.ts";
import { fractionDone } from "../oncall/status.ts";
import { type ExportPlan, exportIdFor } from "../planner/plan.ts";
import { histogram, renderHistogram } from "./oncall-render.ts";
import { commitExport, prepareExport } from "./prepare.ts";

const STATES: PartitionState[] = ["LEASED", "PENDING", "QUARANTINED", "DONE"];
const n = (x: number) => x.toLocaleString("en-US");

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

  exp
    .command("plan")
    .description("plan an export from a spec: cut the table into partitions through its index and record them")
    .requiredOption("--config <file>", "export spec (YAML or JSON, kind: Export)")
    .option("--id <id>", "export id (default: the spec's name and a digest of the spec, so re-planning finds it)")
    .option("--state-table <name>", "DynamoDB state table (default: $SPOTFERRY_STATE_TABLE or spotferry)")
    .option("--json", "print the export record and plan figures as JSON")
    .action((opts: { config: string; id?: string; stateTable?: string; json?: boolean }) =>
      runCommand(async () => {
        // Input first (flags, the file, then the source's schema while planning): a refusal leaves no table or item.
        const tableName = stateTableFlag(opts.stateTable);
        const spec = await loadConfigFile(opts.config, "Export");
        const exportId = opts.id === undefined ? exportIdFor(spec) : exportIdFlag("--id", opts.id);
        const { client, store } = openStore(tableName);
        try {
          const tty = !opts.json && process.stderr.isTTY;
          const prepared = await prepareExport({
            client,
            store,
            tableName,
            spec,
            exportId,
            onProgress: (b) => (tty ? process.stderr.write(`\r${b} boundaries found`) : undefined),
          });
          if (tty) process.stderr.write("\r\x1b[K");
          if ("existing" in prepared) return report(prepared.existing, false, null, opts.json);
          const result = await commitExport({ client, store, tableName, spec, plan: prepared.plan, exportId });
          return report(result.export, result.created, prepared.plan, opts.json, result.planDiffers);
        } finally {
          client.destroy();
        }
      }),
    );

  exp
    .command("show")
    .description("show an export and its partitions by state")
    .argument("<id>", "export id (as printed by `export plan`)")
    .option("--state <state>", `only partitions in this state (${STATES.join("|")})`)
    .option("--limit <n>", "partition rows to print (tables only)", "50")
    .option("--state-table <name>", "DynamoDB state table (default: $SPOTFERRY_STATE_TABLE or spotferry)")
    .option("--json", "print export, progress and partitions as JSON")
    .action((id: string, opts: { state?: string; limit: string; stateTable?: string; json?: boolean }) =>
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
          if (opts.json) return printJson({ export: record, progress, histogram: histogram(fractions), partitions });
          printShow(record, progress, partitions, limit, fractions);
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

function report(record: ExportRecord, created: boolean, plan: ExportPlan | null, json?: boolean, planDiffers = false): void {
  if (json) {
    const figures = plan && { rows: plan.rows, step: plan.step, dives: plan.dives, elapsedMs: plan.elapsedMs };
    printJson({
      exportId: record.exportId,
      created,
      planDiffers,
      partitionCount: record.partitionCount,
      plan: figures,
      export: record,
    });
    return;
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
}

function printShow(
  record: ExportRecord,
  progress: ExportProgress,
  partitions: PartitionRecord[],
  limit: number,
  fractions: number[],
): void {
  const out = process.stdout;
  const src = record.spec.source;
  const dst = record.spec.destination;
  out.write(`export ${record.exportId}  ${record.state}\n`);
  out.write(`  ${src.database}.${src.table} -> s3://${dst.bucket}/${dst.prefix} (${dst.format}), pool ${record.spec.pool}\n`);
  out.write(
    `  key ${record.keyIndex} (${record.keyColumns.map((k) => k.name).join(", ")}), high watermark ${formatKey(record.highWatermark, "none")}\n`,
  );
  const t = progress.total;
  const pct = t.estimatedRows > 0 ? ` (${((100 * t.rows) / t.estimatedRows).toFixed(1)}%)` : "";
  out.write(`  ${n(t.rows)} of ${n(t.estimatedRows)} rows exported${pct}, ${n(t.chunks)} chunks\n\n`);

  const summary = new Table({ head: ["state", "partitions", "rows", "est. rows", "chunks"], style: { head: [], border: [] } });
  for (const s of STATES) {
    const b = progress.byState[s];
    summary.push([s, n(b.partitions), n(b.rows), n(b.estimatedRows), n(b.chunks)]);
  }
  out.write(`${summary.toString()}\n`);
  const owners = Object.entries(progress.owners);
  if (owners.length > 0) out.write(`  leased by: ${owners.map(([o, c]) => `${o} (${c})`).join(", ")}\n`);
  out.write(`\npartitions by progress (rows committed / planned rows)\n${renderHistogram(fractions)}`);

  const ordered = STATES.flatMap((s) => partitions.filter((p) => p.state === s));
  if (ordered.length === 0 || limit === 0) return;
  const now = cliClock().now();
  const table = new Table({
    head: ["#", "state", "owner", "epoch", "lease", "lo", "hi", "cursor", "rows", "chunks", "tries", "last error"],
    style: { head: [], border: [] },
  });
  for (const p of ordered.slice(0, limit)) {
    table.push([
      p.partition,
      p.state,
      p.owner ?? "",
      p.epoch,
      p.state === "LEASED"
        ? ago(p.leaseExpiresAt, now)
        : p.state === "PENDING" && p.notBefore && Date.parse(p.notBefore) > now
          ? `retry ${ago(p.notBefore, now)}`
          : "",
      formatKey(p.lo, "start"),
      formatKey(p.hi, "end"),
      formatKey(p.cursor, ""),
      n(p.rows),
      p.chunks,
      p.attempts,
      (p.lastError ?? "").slice(0, 40),
    ]);
  }
  out.write(`\n${table.toString()}\n`);
  if (ordered.length > limit) out.write(`  ... ${ordered.length - limit} more partitions (use --state, --limit or --json)\n`);
}
