import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SimStateFile } from "./daemon.ts";
import { startSim } from "./server.ts";

/**
 * Entry point of the detached sim process started by `spotferry sim up` (see daemon.ts). Options arrive as one JSON
 * argument. Writes `<state dir>/sim.json` once listening and removes it on exit; SIGTERM, SIGINT or
 * `POST /_sim/shutdown` stop it, taking every instance process down with it.
 */
const options = JSON.parse(process.argv[2] ?? "{}") as Parameters<typeof startSim>[0] & { stateDir: string };
let exiting = false;

const sim = await startSim({ ...options, onShutdownRequest: () => void shutdown("control API") });
const stateFile = join(sim.stateDir, "sim.json");
const state: SimStateFile = {
  pid: process.pid,
  port: sim.port,
  url: sim.url,
  stateDir: sim.stateDir,
  startedAt: new Date().toISOString(),
  timeScale: sim.world.settings.timeScale,
  env: sim.env,
};
writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
process.stdout.write(`spotferry sim listening on ${sim.url} (state ${sim.stateDir})\n`);

async function shutdown(why: string): Promise<void> {
  if (exiting) return;
  exiting = true;
  process.stdout.write(`spotferry sim stopping (${why})\n`);
  try {
    await sim.stop();
  } finally {
    rmSync(stateFile, { force: true });
    process.exit(0);
  }
}

process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
