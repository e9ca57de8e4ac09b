import { join, relative } from "node:path";
import type { Command } from "commander";
import { runCommand } from "../../lib/cli/run.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { progressLine } from "../rehearsal/progress.ts";
import { type RehearsalOptions, runRehearsal } from "../rehearsal/rehearsal.ts";
import { formatReport } from "../rehearsal/report.ts";
import { startSim } from "../server.ts";
import { envFile, stackHome, stackUp } from "../stack/stack.ts";

const log = (line: string) => process.stderr.write(`${line}\n`);

interface DemoFlags {
  rows: number;
  nodes: number;
  format: "parquet" | "ndjson" | "csv";
  seed: number;
  hazardRate: number;
  timeScale: number;
  maxRowsPerSecond?: number;
  json?: boolean;
}

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new UserError(`--${name}: expected a whole number >= ${min}, got "${v}"`, { exitCode: ExitCode.usage });
  return n;
};

/**
 * `npm run demo`: the local rehearsal (sim/rehearsal/). The stack comes up (installing what is missing), a
 * call-log table is seeded, and a spot pool in a private sim exports it under seeded interruptions, one rotation and
 * one controller crash; the run ends with `export verify` and a short report, exit 0 only if every row is in S3
 * exactly once. The sim runs at --time-scale (default 0.1: a 2-minute spot notice lasts 12 s, the hazard ticks every
 * 3 s), which the daemon sim of `local up` (real time) cannot, so the demo starts its own on a free port.
 */
export function registerDemoCommands(program: Command): void {
  program
    .command("demo")
    .option("--rows <n>", "rows in the generated call-log table", int("rows", 1000), 2_000_000)
    .option("--nodes <n>", "most spot nodes in the pool", int("nodes", 1), 4)
    .option("--format <format>", "output format: parquet, ndjson or csv", "parquet")
    .option("--seed <n>", "seed of the sim's hazard and of the demo's choices", int("seed", 0), 42)
    .option("--hazard-rate <n>", "random spot interruptions per node per sim hour", (v) => Number(v), 3)
    .option("--time-scale <x>", "sim time scale (0.1: sim delays run 10x faster)", (v) => Number(v), 0.1)
    .option(
      "--max-rows-per-second <n>",
      "per-agent read cap (default: the table in about 75 s at full fleet, so faults land mid-run; 0 = uncapped)",
      int("max-rows-per-second", 0),
    )
    .option("--json", "print the report as JSON")
    .action((flags: DemoFlags) => runCommand(() => demo(flags)));
}

async function demo(flags: DemoFlags): Promise<number> {
  if (!["parquet", "ndjson", "csv"].includes(flags.format)) {
    throw new UserError(`--format: expected parquet, ndjson or csv, got "${flags.format}"`, { exitCode: ExitCode.usage });
  }
  const home = stackHome();
  const { env } = await stackUp({ home, log });
  // The sim started below finds the stack here: its front doors' upstreams, and the keys it may hand to roles.
  Object.assign(process.env, env);
  const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
  const sim = await startSim({ timeScale: flags.timeScale, stateDir: join(home, "demo", `sim-${stamp}`) });
  log(`sim: a private spot market on ${sim.url} (time scale ${flags.timeScale})`);
  log(
    `watch it from another terminal: source .spotferry/local.env; AWS_ENDPOINT_URL_EC2=${sim.url} npx spotferry status -w --state-table spotferry-demo-${stamp}`,
  );
  const tty = process.stderr.isTTY;
  try {
    // Uncapped, a few agents export 2M rows in ~10 s here: over before a spot notice (12 s) could matter. The
    // cap spreads the export over ~75 s so interruptions, the rotation and the controller crash hit work in flight.
    const cap = flags.maxRowsPerSecond ?? Math.ceil(flags.rows / (flags.nodes * 75));
    if (cap > 0) log(`agents read at most ${cap.toLocaleString("en-US")} rows/s each (--max-rows-per-second 0 for full speed)`);
    const report = await runRehearsal({ ...rehearsalOptions({ flags, stamp, sim, cap }), ...progressOutput(tty) });
    if (tty) process.stderr.write("\n");
    process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    // The hint runs as printed in a new shell: the CLI reads endpoints and keys only from the environment, and
    // guessing the local stack's when none are set could point an operator's real-account command at it.
    log(
      `inspect it: source ${relative(process.cwd(), envFile(home)) || envFile(home)} && npx spotferry export show ${report.exportId} ` +
        `--state-table spotferry-demo-${stamp}  (the stack stays up; npx spotferry local down stops it)`,
    );
    return report.ok ? ExitCode.ok : ExitCode.checkFailed;
  } finally {
    await sim.stop();
  }
}

/** The demo's table, pool and faults; names carry the run's stamp, so each run has its own state table and export. */
function rehearsalOptions(o: {
  flags: DemoFlags;
  stamp: string;
  sim: { url: string; env: Record<string, string> };
  cap: number;
}): Omit<RehearsalOptions, "log" | "onProgress"> {
  const { flags, stamp, cap } = o;
  const rows = flags.rows;
  return {
    names: {
      database: "spotferry_demo",
      table: "call_log",
      stateTable: `spotferry-demo-${stamp}`,
      bucket: "spotferry-demo",
      artifactBucket: "spotferry-artifacts",
      pool: "demo",
      exportName: `call-log-${stamp}`,
    },
    // ~20 partitions and chunks of ~1/80 of the table: enough hand-overs to see, small rework per fault.
    data: {
      rows,
      format: flags.format,
      chunkRows: Math.max(1000, Math.round(rows / 80)),
      targetRows: Math.max(1000, Math.round(rows / 20)),
      reuseTable: true,
      ...(cap > 0 ? { maxRowsPerSecond: cap } : {}),
    },
    pool: {
      maxNodes: flags.nodes,
      instanceTypes: ["m5.large", "m6i.large", "c5.large", "c6i.large"],
      subnets: ["subnet-a", "subnet-b", "subnet-c"],
    },
    sim: { url: o.sim.url, env: o.sim.env },
    env: process.env,
    hazard: { ratePerHour: flags.hazardRate, seed: flags.seed },
    chaos: { rotateAt: 0.35, restartControllerAt: 0.6, ensureInterruptionBy: 0.5, seed: flags.seed },
    timeoutMs: 15 * 60_000,
  };
}

/** On a terminal, progress is one line redrawn in place; elsewhere (a CI log) it is a line every 5 s. */
function progressOutput(tty: boolean): Pick<RehearsalOptions, "log" | "onProgress"> {
  let lastLine = 0;
  return {
    log: (line) => {
      if (tty) process.stderr.write("\r\x1b[K");
      log(line);
    },
    onProgress: (s) => {
      const line = progressLine(s);
      if (tty) process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns || 200) - 1)}`);
      else if (s.at - lastLine >= 5000) {
        lastLine = s.at;
        log(line);
      }
    },
  };
}
