/** The export benchmark's printed tables: plain aligned columns, as in the README. */
import type { BenchTable } from "./bench-tables.ts";
import type { Measured } from "./export-runners.ts";

type Log = (line: string) => void;

const C_CLIENT = "C client";
const MYDUMPER = "mydumper --threads 2 --rows 500000";
const ONE = "--workers 1";
const TWO = "--workers 2";
/** The product's run on the signed copy of the call log, the one mydumper is measured on. */
export const SIGNED_SUFFIX = "(ids < 2^63)";
/** The product's run writing CSV (zstd) on the signed copy: text, as mydumper's SQL is. */
export const CSV_LABEL = "CSV zstd";

/** The fastest successful run of each case, in first-seen order, with every repeat's wall time. */
function best(results: Measured[]): { m: Measured; walls: number[] }[] {
  const by = new Map<string, Measured[]>();
  for (const r of results) by.set(r.name, [...(by.get(r.name) ?? []), r]);
  return [...by.values()].map((runs) => {
    const ok = runs.filter((r) => !r.failed);
    const m = (ok.length ? ok : runs).reduce((a, b) => (b.wall < a.wall ? b : a));
    return { m, walls: runs.map((r) => r.wall) };
  });
}

const find = (rows: { m: Measured }[], test: (name: string) => boolean) => rows.find((r) => test(r.m.name) && !r.m.failed)?.m;
const rate = (m: Measured | undefined) => (m ? m.rows / m.wall : Number.NaN);
const fix = (v: number | null | undefined, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? "-" : v.toFixed(d));

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join("  ");
}

const HEAD = ["case", "rows", "wall s", "rows/s", "vs C", "vs myd", "cpu prog", "cpu agent", "cpu ctl", "mysqld", "S3", "ddb"];
const HEAD2 = ["peak RSS MB", "ddb writes", "wr/GB text", "planning s", "repeats (wall s)"];
const WIDTHS = [44, 9, 7, 9, 6, 6, 8, 9, 7, 7, 6, 6, 11, 10, 9, 10, 16];

function cells(m: Measured, walls: number[], c: number, myd: number, textRowBytes: number): string[] {
  const perM = (v: number | undefined) => fix(v === undefined ? undefined : (v / m.rows) * 1e6);
  // Per GB of the rows' text (format-independent: the same for Parquet, SQL and TSV), not of the compressed output.
  const gb = (m.rows * textRowBytes) / 1e9;
  return [
    m.name,
    String(m.rows),
    fix(m.wall),
    Math.round(rate(m)).toLocaleString("en-US"),
    `${fix(rate(m) / c)}x`,
    `${fix(rate(m) / myd)}x`,
    perM(m.cpu.client),
    perM(m.cpu.agent),
    perM(m.cpu.controller),
    perM(m.cpu.mysqld),
    perM(m.cpu.s3),
    perM(m.cpu.dynamodb),
    fix(m.peakRssMb, 0),
    m.ddbWrites === null ? "-" : String(m.ddbWrites),
    m.ddbWrites === null || gb === 0 ? "-" : (m.ddbWrites / gb).toFixed(0),
    fix(m.planningSecs),
    walls.map((w) => w.toFixed(1)).join(", "),
  ];
}

/** One line per case: its best repeat. CPU columns are seconds per million rows. */
export function printMain(log: Log, results: Measured[], textRowBytes: number): void {
  const rows = best(results);
  const c = rate(find(rows, (n) => n.startsWith(C_CLIENT)));
  const myd = rate(find(rows, (n) => n === MYDUMPER));
  log(row([...HEAD, ...HEAD2], WIDTHS));
  for (const { m, walls } of rows) log(row(cells(m, walls, c, myd, textRowBytes), WIDTHS));
  for (const { m } of rows) if (m.failed) log(`FAILED ${m.name}: ${m.failed}`);
  log(
    "cpu prog = the client's own tree (C client, mydumper); agent = the agent processes; ctl = the export run process " +
      "(planning, reconcilers, finalize); mysqld, S3 (Swift servers + memcached), ddb (DynamoDB Local) = the stack's servers " +
      "over the same interval (shared with other work on the machine). peak RSS: the largest agent process (product), " +
      "the largest process (others). ddb writes: PutItem/UpdateItem/DeleteItem/TransactWriteItems/BatchWriteItem " +
      "requests; wr/GB text: per GB of the rows as text.",
  );
}

/** The ratios of the issue, from the best repeat of each side. */
export function printRatios(log: Log, results: Measured[]): void {
  const rows = best(results);
  const c = find(rows, (n) => n.startsWith(C_CLIENT));
  const myd = find(rows, (n) => n === MYDUMPER);
  const mydc = find(rows, (n) => n === `${MYDUMPER} -c`);
  const one = find(rows, (n) => n.endsWith(ONE));
  const two = find(rows, (n) => n.endsWith(TWO));
  // mydumper ran on the signed copy: compared with the product on that same copy.
  const twoSigned = find(rows, (n) => n.endsWith(`${TWO} ${SIGNED_SUFFIX}`));
  const twoCsv = find(rows, (n) => n.endsWith(`${CSV_LABEL} ${SIGNED_SUFFIX}`));
  const ratio = (a: Measured | undefined, b: Measured | undefined) => (a && b ? `${(rate(a) / rate(b)).toFixed(2)}x` : "-");
  log("");
  log(`1 agent  / C client           ${ratio(one, c).padStart(7)}   (target >= 1.0x)`);
  log(`2 agents / mydumper -t 2      ${ratio(twoSigned, myd).padStart(7)}   (target >= 0.9x; both on ids < 2^63)`);
  log(`2 agents / mydumper -t 2 -c   ${ratio(twoSigned, mydc).padStart(7)}   (target >= 3x; both on ids < 2^63)`);
  log(`2 agents, CSV / mydumper -t 2 ${ratio(twoCsv, myd).padStart(7)}   (text against text: CSV zstd-1, uncompressed SQL)`);
  for (const m of [one, two])
    if (m?.agentRssMb.length) log(`peak RSS per agent process, ${m.name}: ${agentRss(m)} MB (target <= 300; s = supervisor)`);
  const ctl = [one, two].map((m) => fix(m?.controllerRssMb, 0));
  log(`peak RSS of the export run process itself (1 agent, 2 agents): ${ctl.join(", ")} MB`);
}

/** Every agent process's peak RSS, a supervisor (of `--processes` children) marked "s". */
function agentRss(m: Measured): string {
  return m.agentRssMb.map((v, i) => `${v.toFixed(0)}${m.agentSupervisor[i] ? "s" : ""}`).join(", ") || "-";
}

/** The wide and 1 MB-row tables: rate and every agent's peak RSS. */
export function printExtras(log: Log, extras: Measured[], tables: BenchTable[]): void {
  if (!extras.length) return;
  log("");
  const w = [32, 7, 9, 8, 9, 9, 22, 8];
  log(row(["table (1 agent, Parquet zstd)", "rows", "MiB text", "wall s", "rows/s", "MB/s in", "peak RSS per agent MB", "<= 300"], w));
  for (const m of extras) {
    const t = tables.find((x) => x.name === m.table);
    // The rows' text, not InnoDB's pages (off-page TEXT takes a page per value).
    const text = (t?.textRowBytes ?? 0) * (t?.rows ?? 0);
    const mib = text / 2 ** 20;
    const ok = m.agentRssMb.length > 0 && m.agentRssMb.every((v) => v <= 300);
    log(
      row(
        [
          t?.kind ?? m.table,
          String(t?.rows ?? m.rows),
          mib.toFixed(0),
          fix(m.wall),
          m.failed ? "-" : Math.round(rate(m)).toLocaleString("en-US"),
          m.failed ? "-" : (text / 1e6 / m.wall).toFixed(1),
          agentRss(m),
          m.failed ? "FAILED" : ok ? "yes" : "NO",
        ],
        w,
      ),
    );
    if (m.failed) log(`  FAILED on ${m.table}: ${m.failed}`);
  }
}
