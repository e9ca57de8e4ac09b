import type { Command } from "commander";
import type { ChunkRecord, EventRecord, PartitionRecord } from "../../config/records.ts";
import { type Column, emitData, formatNumber, isWide, renderColumns } from "../../lib/cli/output.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { ago, key, num } from "../oncall/format.ts";
import { fullLedger } from "../oncall/reads.ts";
import { readStatus } from "../oncall/status.ts";
import { type Diagnosis, whyExport, whyPartition } from "../oncall/why.ts";
import { type CommonFlags, parsePartition, thresholds, withCommon, withStores, withThresholds } from "./oncall-shared.ts";

/** `partition show ID N` (everything about one partition, with its whole ledger) and `why ID [N]` (a diagnosis). */

async function allChunks(jobs: JobStore, exportId: string, n: number): Promise<ChunkRecord[]> {
  const out: ChunkRecord[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await jobs.listChunks(exportId, n, { after, limit: 1000 });
    out.push(...page.items);
    if (page.next === null) return out;
    after = page.next;
  }
}

/** Runs of 4+ checkpoints by one holder collapse into one line, so a 5,000-chunk ledger still reads in a screen. */
export function collapseLedger(events: EventRecord[]): (EventRecord & { count?: number; lastAt?: string })[] {
  const out: (EventRecord & { count?: number; lastAt?: string })[] = [];
  let run: EventRecord[] = [];
  const flush = () => {
    if (run.length >= 4) {
      const first = run[0] as EventRecord;
      const last = run[run.length - 1] as EventRecord;
      out.push({ ...first, detail: `${run.length} chunks (${first.detail} ... ${last.detail})`, count: run.length, lastAt: last.at });
    } else out.push(...run);
    run = [];
  };
  for (const e of events) {
    if (e.kind === "checkpointed" && (!run.length || run[0]?.epoch === e.epoch)) run.push(e);
    else {
      flush();
      if (e.kind === "checkpointed") run.push(e);
      else out.push(e);
    }
  }
  flush();
  return out;
}

const CHUNK_COLUMNS: Column<ChunkRecord>[] = [
  { header: "chunk", value: (c) => c.seq, align: "right" },
  { header: "epoch", value: (c) => c.epoch, align: "right" },
  { header: "rows", value: (c) => c.rows, align: "right" },
  { header: "bytes", value: (c) => c.bytes, align: "right" },
  { header: "first-key", value: (c) => key(c.firstKey, "") },
  { header: "last-key", value: (c) => key(c.lastKey, "") },
  { header: "committed", value: (c) => c.committedAt },
  { header: "object", value: (c) => c.key },
];

const EVENT_COLUMNS: Column<EventRecord>[] = [
  { header: "at", value: (e) => e.at },
  { header: "event", value: (e) => e.kind },
  { header: "node", value: (e) => e.node },
  { header: "epoch", value: (e) => e.epoch, align: "right" },
  { header: "detail", value: (e) => e.detail },
];

function renderPartition(
  p: PartitionRecord,
  chunks: ChunkRecord[],
  events: EventRecord[],
  o: { now: number; allEvents: boolean; wide: boolean },
): string {
  const { now } = o;
  const lines = [
    `partition ${p.partition} of export ${p.exportId}  ${p.state}`,
    `  range       [${key(p.lo, "start")}, ${key(p.hi, "end")})${p.splitFrom !== null ? `  (split from ${p.splitFrom})` : ""}`,
    `  cursor      ${key(p.cursor, "nothing committed yet")}`,
    `  owner       ${p.owner ?? "-"}${p.leaseExpiresAt ? `  lease ${p.leaseExpiresAt} (${ago(p.leaseExpiresAt, now)})` : ""}`,
    `  epoch       ${p.epoch}`,
    `  attempts    ${p.attempts}${p.notBefore && Date.parse(p.notBefore) > now ? `  (claimable again ${ago(p.notBefore, now)})` : ""}`,
    `  last error  ${p.lastError ?? "-"}`,
    `  progress    ${num(p.rows)} of ~${num(p.estimatedRows)} rows, ${num(p.bytes)} bytes, ${p.chunks} chunks committed`,
    "",
  ];
  if (chunks.length) {
    // -o wide lists every chunk; the default the first and last ten.
    const cut = !o.wide && chunks.length > 20;
    const shown = cut ? [...chunks.slice(0, 10), ...chunks.slice(-10)] : chunks;
    const table = renderColumns(CHUNK_COLUMNS, shown).trimEnd().split("\n");
    if (cut) table.splice(11, 0, `  ... ${formatNumber(chunks.length - 20)} more (use -o wide or -o json)`);
    lines.push("COMMITTED CHUNKS", ...table, "");
  }
  const ledger = o.allEvents ? events : collapseLedger(events);
  lines.push(
    `LEDGER (${events.length} events, oldest first)`,
    events.length ? renderColumns(EVENT_COLUMNS, ledger).trimEnd() : "  (empty)",
    "",
  );
  return lines.join("\n");
}

export function renderDiagnosis(d: Diagnosis): string {
  return `${d.subject}: ${d.verdict}\n${d.details.map((l) => `  - ${l}`).join("\n")}${d.details.length ? "\n" : ""}`;
}

export function registerInspectCommands(program: Command): void {
  withCommon(program.command("partition").command("show"))
    .description("one partition: range, cursor, owner, epoch, attempts, committed chunks and its full event ledger")
    .argument("<id>", "export id")
    .argument("<n>", "partition number")
    .option("--all-events", "list every checkpoint instead of collapsing runs of them")
    .action((id: string, nText: string, flags: CommonFlags & { allEvents?: boolean }) =>
      runCommand(async () => {
        const n = parsePartition(nText);
        await withStores(flags, async (d) => {
          const p = await d.jobs.getPartition(id, n);
          if (!p) {
            const exists = await d.jobs.getExport(id);
            throw new UserError(
              exists ? `partition ${n} of export ${id} not found (it has ${exists.partitionCount})` : `export ${id} not found`,
            );
          }
          const [chunks, events] = await Promise.all([allChunks(d.jobs, id, n), fullLedger(d.jobs, id, n)]);
          if (!(await emitData(flags, { partition: p, chunks, events }))) {
            const o = { now: d.clock.now(), allEvents: flags.allEvents ?? false, wide: isWide(flags) };
            process.stdout.write(renderPartition(p, chunks, events, o));
          }
        });
      }),
    );

  withThresholds(withCommon(program.command("why")))
    .argument("<id>", "export id")
    .argument("[n]", "partition number")
    .action((id: string, nText: string | undefined, flags: CommonFlags & { stallMinutes?: string; heartbeatTimeout?: string }) =>
      runCommand(async () => {
        const n = nText === undefined ? undefined : parsePartition(nText);
        return withStores(flags, async (d) => {
          if (!(await d.jobs.getExport(id))) throw new UserError(`export ${id} not found`);
          const world = await readStatus(d, { ...thresholds(flags), exportIds: [id] });
          const now = d.clock.now();
          let diagnosis: Diagnosis;
          if (n === undefined) diagnosis = whyExport(world, id, now);
          else {
            const p = world.partitions.get(id)?.find((x) => x.partition === n) ?? (await d.jobs.getPartition(id, n));
            if (!p) throw new UserError(`partition ${n} of export ${id} not found`);
            diagnosis = whyPartition(world, p, await fullLedger(d.jobs, id, n), now);
          }
          if (!(await emitData(flags, diagnosis))) process.stdout.write(renderDiagnosis(diagnosis));
          return diagnosis.stuck ? ExitCode.checkFailed : ExitCode.ok;
        });
      }),
    );
}
