import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { loadConfigFile } from "../../config/load.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import { systemClock } from "../../lib/clock.ts";
import type { Lease } from "../../lib/jobs/job-store.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { ensurePackages } from "../../sim/stack/packages.ts";
import { repoRoot } from "../../sim/stack/stack.ts";
import { type ExportFixture, exportFixture } from "../helpers/export-fixture.ts";
import { waitFor } from "../helpers/wait.ts";

// The status page during a live `export run --local`, rendered by headless Chromium (`--dump-dom` after the page's
// script ran, and `--screenshot`). The test holds the last partition itself (a real lease, after a spot-notice
// release of it: an interruption on the timeline) until the page has been captured, so the run cannot finish first
// however fast the machine is. The screenshot is kept under .spotferry/artifacts/ (git-ignored) and its path printed.

const CHROMIUM = "/usr/bin/chromium";
const cli = join(repoRoot, "bin", "spotferry.mjs");
const artifacts = join(repoRoot, ".spotferry", "artifacts");
const exec = promisify(execFile);

function browserMissing(): string | false {
  if (existsSync(CHROMIUM)) return false;
  try {
    // Installs with apt-get when root; otherwise throws naming the package and the command.
    ensurePackages([{ binary: CHROMIUM, packages: ["chromium"] }], (line) => process.stderr.write(`${line}\n`));
    return false;
  } catch (err) {
    return `headless Chromium is needed at ${CHROMIUM} and could not be installed: ${(err as Error).message}`;
  }
}
const missing = browserMissing();

let fx: ExportFixture;
let profile: string;
const children: ChildProcess[] = [];
before(async () => {
  if (missing) return;
  fx = await exportFixture({ rows: 48_000, format: "ndjson", chunkRows: 4_000, targetRows: 8_000 });
  profile = mkdtempSync(join(tmpdir(), "spotferry-chromium-"));
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  await fx?.cleanup();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const env = () => ({ ...process.env, SPOTFERRY_STATE_TABLE: fx.tableName, SPOTFERRY_HOME: fx.dir });

function start(args: string[]) {
  const child = spawn(process.execPath, [cli, ...args], { env: env(), stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const out = { stdout: "", stderr: "" };
  child.stdout?.on("data", (d) => (out.stdout += d));
  child.stderr?.on("data", (d) => (out.stderr += d));
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
  return { child, out, exited };
}

async function chromium(args: string[]): Promise<string> {
  const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"];
  // The virtual time budget lets the page's script run before the DOM is dumped or the screenshot taken.
  const base = [...flags, `--user-data-dir=${profile}`, "--virtual-time-budget=3000", "--window-size=1400,2000"];
  const { stdout } = await exec(CHROMIUM, [...base, ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  return stdout;
}

test("the status page of a live run shows partitions, a lifetime timeline and the projected cost", { skip: missing }, async () => {
  const input = JSON.parse(readFileSync(fx.specFile, "utf8"));
  input.source.maxRowsPerSecond = 20_000;
  writeFileSync(fx.specFile, JSON.stringify(input));
  const spec = await loadConfigFile(fx.specFile, "Export");
  const conn = await openSource(spec.source);
  const plan = await planExport(spec, { conn, clock: systemClock }).finally(() => conn.end());
  const exportId = exportIdFor(spec);
  const { export: record } = await fx.store.createExport(toNewExport(exportId, spec, plan));
  const last = record.partitionCount - 1;
  const claim = () => fx.store.claimPartition(exportId, last, { pool: spec.pool, owner: "test-gate", leaseMs: 600_000 });
  // A spot notice on the gate's first holding: the ledger's "interrupted" event is the timeline's interruption.
  const first = (await claim()) as Lease;
  await fx.store.release(first, { interrupted: true, detail: "test: spot notice" });
  const gate = await claim();
  assert.ok(gate, "the gate holds the last partition again before any agent starts");

  const run = start(["export", "run", "--config", fx.specFile, "--local", "--workers", "2", "--lease", "5", "--json"]);
  const serve = start(["serve", "--http", "127.0.0.1:0", "--refresh", "60", "--state-table", fx.tableName]);
  const url = await waitFor("the status page's address", () => /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(serve.out.stderr)?.[1], 60_000);
  // Every partition but the gate's is done: the page then has DONE rows, a LEASED one and recent commits.
  await waitFor(
    "every partition but the gate's to be done",
    async () => {
      if (run.child.exitCode !== null) throw new Error(`export run ended early:\n${run.out.stderr.slice(-2000)}`);
      return (await fx.store.progress(exportId)).byState.DONE.partitions === last;
    },
    240_000,
  );

  const dom = await chromium(["--dump-dom", url]);
  mkdirSync(artifacts, { recursive: true });
  const shot = join(artifacts, `status-page-${new Date().toISOString().replace(/[:.]/g, "-")}.png`);
  await chromium([`--screenshot=${shot}`, url]);
  assert.ok(existsSync(shot), "the screenshot was written");
  process.stdout.write(`status page screenshot: ${shot}\n`);

  assert.match(dom, /<html[^>]* data-js="ran"/, "the page's script ran before the DOM was dumped");
  // The partition table: one linkable row per partition, the gate's LEASED with its owner.
  const table = /<table class="partitions" data-export="([^"]+)"[^>]*>([\s\S]*?)<\/table>/.exec(dom);
  assert.ok(dom.includes(`<section class="export" id="export-${exportId}"`), "an anchor per export");
  assert.ok(table, "a partition table");
  const [, tableExport, rows = ""] = table;
  assert.equal(tableExport, exportId);
  for (let n = 0; n <= last; n++) assert.ok(rows.includes(`id="export-${exportId}-p-${n}"`), `anchor of partition ${n}`);
  assert.match(rows, /<th><a href="\?sort=cursor[^"]*"[^>]*>cursor %/, "sortable by cursor %");
  assert.match(rows, /LEASED<\/span><\/td><td>[^<]*<span class="pbar"[\s\S]*?<\/td><td>test-gate<\/td>/, "the gate's row names its owner");
  // The timeline runs from the plan to now: its first event is the plan, its last a commit after the interruption.
  const svg = /<svg class="lifetime"[\s\S]*?<\/svg>/.exec(dom)?.[0] ?? "";
  const firstAt = /data-event="first" data-at="([^"]+)"/.exec(svg)?.[1];
  const lastAt = /data-event="last" data-at="([^"]+)"/.exec(svg)?.[1];
  assert.equal(firstAt, record.createdAt, "the first event is the plan");
  assert.ok(lastAt && lastAt > record.createdAt, `the last event (${lastAt}) comes after the plan`);
  assert.match(svg, /first: planned/);
  assert.match(svg, /data-incident="interrupted"/, "the spot notice is marked");
  const span = /UTC \(([^)]+)\)<\/text><\/svg>/.exec(svg)?.[1] ?? "";
  assert.match(span, /^(\d+s|\d+m(\d\ds)?)$/, `the axis spans the run (${span}), not a fixed hour`);
  // The projected cost, and the rate measured from the run's commits.
  assert.match(dom, /projected cost <span data-projected-cost="[0-9.e-]+"><b>\$[0-9.,]+<\/b>/, "a projected cost");
  assert.match(dom, /<span data-rate="">[0-9.]+k? rows\/s \(smoothed over the last/, "a measured rate");

  await fx.store.release(gate as Lease);
  assert.equal(await run.exited, 0, `export run failed:\n${run.out.stderr.slice(-2000)}`);
  serve.child.kill("SIGTERM");
  assert.equal(await serve.exited, 0, `serve exited badly:\n${serve.out.stderr.slice(-2000)}`);
});
