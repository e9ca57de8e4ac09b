import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { describeError } from "../../lib/errors.ts";
import { progressLine } from "../rehearsal/progress.ts";
import { startSim } from "../server.ts";
import { stackHome, stackUp } from "../stack/stack.ts";
import { formatChaosReport } from "./report.ts";
import { chaosControllerSettings, runChaos } from "./run.ts";

/**
 * `npm run chaos [-- --seed N --faults 220 --rows 300000 --nodes 4 --max-rows-per-second N --time-scale 0.1 --json]`:
 * brings the local stack up, starts a private sim, runs a clean export and the same export under the seeded faults
 * (run.ts), prints the figures. Exit 0 when nothing was lost, duplicated or left over, 1 otherwise, 2 on bad flags.
 */
const log = (line: string) => process.stderr.write(`${line}\n`);

function flags() {
  const { values } = parseArgs({
    options: {
      seed: { type: "string", default: "42" },
      faults: { type: "string", default: "220" },
      rows: { type: "string", default: "300000" },
      nodes: { type: "string", default: "4" },
      "max-rows-per-second": { type: "string" },
      "time-scale": { type: "string", default: "0.1" },
      "no-clean": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const int = (name: keyof typeof values, min: number) => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min) throw new Error(`--${name}: expected a whole number >= ${min}, got "${values[name]}"`);
    return v;
  };
  const timeScale = Number(values["time-scale"]);
  if (!(timeScale > 0 && timeScale <= 1)) throw new Error(`--time-scale: expected a number in (0, 1], got "${values["time-scale"]}"`);
  const rows = int("rows", 10_000);
  const nodes = int("nodes", 2);
  return {
    seed: int("seed", 0),
    faults: int("faults", 6),
    rows,
    nodes,
    // About a minute for the clean export at full fleet: long enough for the faults that take a lease's time.
    cap: values["max-rows-per-second"] === undefined ? Math.ceil(rows / (nodes * 60)) : int("max-rows-per-second", 0),
    timeScale,
    clean: !values["no-clean"],
    json: values.json === true,
  };
}

async function main(): Promise<number> {
  let f: ReturnType<typeof flags>;
  try {
    f = flags();
  } catch (err) {
    log(`error: ${describeError(err)}`);
    return 2;
  }
  const home = stackHome();
  const { env } = await stackUp({ home, log });
  // The sim started below finds the stack here: its front doors' upstreams, and the keys it may hand to roles.
  Object.assign(process.env, env);
  const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
  const dir = join(home, "chaos", stamp);
  mkdirSync(dir, { recursive: true });
  const sim = await startSim({ timeScale: f.timeScale, stateDir: join(dir, "sim") });
  log(`sim on ${sim.url} (time scale ${f.timeScale}); logs in ${dir}`);
  let lastLine = 0;
  try {
    const report = await runChaos({
      names: {
        database: "spotferry_chaos",
        table: "call_log",
        stateTable: `spotferry-chaos-${stamp}`,
        bucket: "spotferry-chaos",
        artifactBucket: "spotferry-artifacts",
        pool: "chaos",
        exportName: `chaos-${stamp}`,
      },
      data: {
        rows: f.rows,
        chunkRows: 2_000,
        targetRows: Math.max(5_000, Math.round(f.rows / 20)),
        reuseTable: true,
        ...(f.cap ? { maxRowsPerSecond: f.cap } : {}),
      },
      pool: {
        maxNodes: f.nodes,
        instanceTypes: ["m5.large", "m6i.large", "c5.large", "c6i.large"],
        subnets: ["subnet-a", "subnet-b", "subnet-c"],
      },
      sim: { url: sim.url, env: sim.env },
      controller: chaosControllerSettings,
      seed: f.seed,
      faults: f.faults,
      skipClean: !f.clean,
      timeoutMs: 20 * 60_000,
      logDir: dir,
      log,
      onProgress: (phase, s) => {
        if (s.at - lastLine < 5000) return;
        lastLine = s.at;
        log(`${phase}: ${progressLine(s)}`);
      },
    });
    process.stdout.write(f.json ? `${JSON.stringify(report, null, 2)}\n` : formatChaosReport(report));
    return report.ok ? 0 : 1;
  } finally {
    await sim.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`error: ${describeError(err)}`);
    process.exit(1);
  },
);
