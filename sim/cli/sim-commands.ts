import type { Command } from "commander";
import { printJson, runCommand } from "../../lib/cli/run.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { control, readSimState, simDown, simUp } from "../daemon.ts";
import { defaultStateDir } from "../server.ts";

/**
 * `spotferry sim ...`: start and stop the local spot market and inject faults into it. Every command talks to the sim
 * recorded in the state dir (--dir, else SPOTFERRY_SIM_DIR, else .spotferry/sim) through its control API.
 */
interface DirOption {
  dir?: string;
}

const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UserError(`${name} must be a number, got "${v}"`, { exitCode: ExitCode.usage });
  return n;
};

/** Control API failures are the user's to fix (no sim, unknown instance): one line, exit 1. */
async function call(dir: string | undefined, method: "GET" | "POST", path: string, body?: unknown): Promise<string> {
  try {
    return await control(dir, method, path, body);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}

const dirOf = (cmd: Command): string | undefined => (cmd.optsWithGlobals() as DirOption).dir;

export function registerSimCommands(program: Command): void {
  const sim = program.command("sim").option("--dir <path>", "sim state directory (default: SPOTFERRY_SIM_DIR or .spotferry/sim)");
  registerUp(sim);
  registerDown(sim);
  registerStatus(sim);
  registerInterrupt(sim);
  registerInstanceAction(sim, "rebalance", "send a rebalance recommendation (IMDS events/recommendations/rebalance)");
  registerInstanceAction(sim, "kill", "hard kill: SIGKILL the instance's processes and terminate it, without notice");
  registerHazard(sim);
  registerCapacity(sim);
  registerPrice(sim);
  registerThrottle(sim);
  registerEvents(sim);
}

interface UpFlags {
  port?: number;
  timeScale?: number;
  bootDelay?: number;
}

function registerUp(sim: Command): void {
  sim
    .command("up")
    .description("start the sim in the background and print the env lines that point the AWS SDK at it")
    .option("--port <n>", "port to listen on (default: a free one)", num("--port"))
    .option("--time-scale <x>", "multiply every sim delay (0.01: a 120 s notice lasts 1.2 s)", num("--time-scale"))
    .option("--boot-delay <seconds>", "pending -> running delay", num("--boot-delay"))
    .action((opts: UpFlags, cmd: Command) => runCommand(() => up(opts, cmd)));
}

async function up(opts: UpFlags, cmd: Command): Promise<void> {
  const state = await simUp({
    stateDir: dirOf(cmd),
    port: opts.port,
    timeScale: opts.timeScale,
    bootDelaySec: opts.bootDelay,
  });
  for (const [k, v] of Object.entries(state.env)) process.stdout.write(`${k}=${v}\n`);
  process.stderr.write(
    `sim ${state.alreadyRunning ? "already running" : "started"}: pid ${state.pid}, ${state.url}, state ${state.stateDir}\n`,
  );
}

function registerDown(sim: Command): void {
  sim
    .command("down")
    .description("stop the sim and every instance process it runs")
    .action((_opts: unknown, cmd: Command) => runCommand(() => down(cmd)));
}

async function down(cmd: Command): Promise<void> {
  const stopped = await simDown({ stateDir: dirOf(cmd) });
  process.stderr.write(stopped ? "sim stopped\n" : "no sim was running\n");
}

/** The part of the control API's /status answer that `sim status` prints. */
interface SimStatus {
  url: string;
  instances: { instanceId: string; state: string; instanceType: string; zone: string; lifecycle: string; stateReason?: string }[];
  capacity: unknown[];
  hazards: unknown[];
}

function registerStatus(sim: Command): void {
  sim
    .command("status")
    .description("the sim's URL, instances, capacity settings and hazards")
    .option("--json", "print the full status as JSON")
    .action((opts: { json?: boolean }, cmd: Command) => runCommand(() => showStatus(opts, cmd)));
}

async function showStatus(opts: { json?: boolean }, cmd: Command): Promise<number | undefined> {
  const state = await readSimState(dirOf(cmd));
  if (!state) {
    process.stderr.write(`no sim running for ${dirOf(cmd) ?? defaultStateDir()}\n`);
    return ExitCode.checkFailed;
  }
  const status = JSON.parse(await call(dirOf(cmd), "GET", "/status")) as SimStatus;
  if (opts.json) {
    printJson(status);
    return;
  }
  process.stdout.write(`sim ${status.url} pid ${state.pid} since ${state.startedAt}\n`);
  for (const i of status.instances) {
    process.stdout.write(
      `${i.instanceId}  ${i.state.padEnd(13)} ${i.instanceType.padEnd(10)} ${i.zone}  ${i.lifecycle}${i.stateReason ? `  ${i.stateReason}` : ""}\n`,
    );
  }
  if (status.capacity.length) process.stdout.write(`capacity: ${JSON.stringify(status.capacity)}\n`);
  if (status.hazards.length) process.stdout.write(`hazards: ${JSON.stringify(status.hazards)}\n`);
}

function registerInterrupt(sim: Command): void {
  sim
    .command("interrupt")
    .description("spot interruption: the IMDS notice appears now, termination follows after the notice period")
    .argument("<instance-id>")
    .option("--notice <seconds>", "notice period in sim seconds (default 120, scaled by the time scale)", num("--notice"))
    .action((id: string, opts: { notice?: number }, cmd: Command) => runCommand(() => interrupt(id, opts, cmd)));
}

async function interrupt(id: string, opts: { notice?: number }, cmd: Command): Promise<void> {
  process.stdout.write(await call(dirOf(cmd), "POST", `/instances/${id}/interrupt`, { noticeSeconds: opts.notice }));
}

function registerInstanceAction(sim: Command, verb: "rebalance" | "kill", what: string): void {
  sim
    .command(verb)
    .description(what)
    .argument("<instance-id>")
    .action((id: string, _opts: unknown, cmd: Command) => runCommand(() => instanceAction(verb, id, cmd)));
}

async function instanceAction(verb: "rebalance" | "kill", id: string, cmd: Command): Promise<void> {
  process.stdout.write(await call(dirOf(cmd), "POST", `/instances/${id}/${verb}`));
}

interface HazardFlags {
  rate: number;
  seed: number;
  tag?: string;
}

function registerHazard(sim: Command): void {
  sim
    .command("hazard")
    .description("interrupt spot instances of a pool at random, reproducibly from a seed (rate 0 stops it)")
    .argument("<pool>", "value of the pool tag (spotferry:pool unless --tag)")
    .requiredOption("--rate <per-hour>", "interruptions per instance-hour", num("--rate"))
    .option("--seed <n>", "random seed", num("--seed"), 1)
    .option("--tag <key>", "tag key that names the pool")
    .action((pool: string, opts: HazardFlags, cmd: Command) => runCommand(() => hazard(pool, opts, cmd)));
}

async function hazard(pool: string, opts: HazardFlags, cmd: Command): Promise<void> {
  process.stdout.write(await call(dirOf(cmd), "POST", "/hazard", { pool, ratePerHour: opts.rate, seed: opts.seed, tag: opts.tag }));
}

interface CapacityFlags {
  available: string;
  market: string;
}

function registerCapacity(sim: Command): void {
  sim
    .command("capacity")
    .description("limit capacity of an instance type in a zone (a pool size for live instances)")
    .argument("<type>")
    .argument("<zone>")
    .requiredOption("--available <n|none|unlimited>", "how many live instances the pool holds")
    .option("--market <market>", "spot or on-demand", "spot")
    .action((type: string, zone: string, opts: CapacityFlags, cmd: Command) => runCommand(() => capacity(type, zone, opts, cmd)));
}

async function capacity(type: string, zone: string, opts: CapacityFlags, cmd: Command): Promise<void> {
  const a = opts.available;
  if (a !== "none" && a !== "unlimited" && !/^\d+$/.test(a)) {
    throw new UserError(`--available must be a count, none or unlimited, got "${a}"`, { exitCode: ExitCode.usage });
  }
  process.stdout.write(
    await call(dirOf(cmd), "POST", "/capacity", {
      instanceType: type,
      zone,
      market: opts.market,
      available: a === "none" || a === "unlimited" ? a : Number(a),
    }),
  );
}

function registerPrice(sim: Command): void {
  sim
    .command("price")
    .description("set the spot price of an instance type in a zone (USD per hour)")
    .argument("<type>")
    .argument("<zone>")
    .argument("<price>", "new price", num("price"))
    .action((type: string, zone: string, price: number, _opts: unknown, cmd: Command) =>
      runCommand(() => setPrice(type, zone, price, cmd)),
    );
}

async function setPrice(type: string, zone: string, price: number, cmd: Command): Promise<void> {
  process.stdout.write(await call(dirOf(cmd), "POST", "/price", { instanceType: type, zone, price }));
}

function registerThrottle(sim: Command): void {
  sim
    .command("throttle")
    .description("make the next N EC2 calls fail with RequestLimitExceeded")
    .argument("<count>", "how many calls", num("count"))
    .option("--action <names...>", "only these actions (e.g. CreateFleet DescribeInstances)")
    .action((count: number, opts: { action?: string[] }, cmd: Command) => runCommand(() => throttle(count, opts, cmd)));
}

async function throttle(count: number, opts: { action?: string[] }, cmd: Command): Promise<void> {
  process.stdout.write(await call(dirOf(cmd), "POST", "/throttle", { count, actions: opts.action }));
}

function registerEvents(sim: Command): void {
  sim
    .command("events")
    .description("the event log of injected faults and state changes, as JSON lines")
    .option("--since <seq>", "only events after this sequence number", num("--since"))
    .option("--type <types>", "comma-separated event types")
    .action((opts: { since?: number; type?: string }, cmd: Command) => runCommand(() => events(opts, cmd)));
}

async function events(opts: { since?: number; type?: string }, cmd: Command): Promise<void> {
  const q = new URLSearchParams();
  if (opts.since !== undefined) q.set("since", String(opts.since));
  if (opts.type) q.set("type", opts.type);
  process.stdout.write(await call(dirOf(cmd), "GET", `/events${q.size ? `?${q}` : ""}`));
}
