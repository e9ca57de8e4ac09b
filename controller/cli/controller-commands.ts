import type { Command } from "commander";
import { loadConfigFile } from "../../config/load.ts";
import { type ControllerSettings, controllerSettings } from "../../config/settings.ts";
import { tableNameFlag } from "../../lib/cli/flags.ts";
import { addOutputOptions, emitData, type OutputFlags } from "../../lib/cli/output.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { runController } from "../run-controller.ts";
import { DynamoFleetStore } from "../store/dynamo-fleet-store.ts";

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

async function loadSettings(file: string | undefined, table: string | undefined): Promise<ControllerSettings> {
  const settings = file ? await loadConfigFile(file, "ControllerSettings") : controllerSettings.parse({});
  if (table !== undefined) return { ...settings, stateTable: tableNameFlag("--state-table", table) };
  const env = process.env.SPOTFERRY_STATE_TABLE;
  return env ? { ...settings, stateTable: tableNameFlag("$SPOTFERRY_STATE_TABLE", env) } : settings;
}

function fleetStore(settings: ControllerSettings) {
  const client = dynamoClient();
  return { client, fleet: new DynamoFleetStore({ client, tableName: settings.stateTable, clock: systemClock }) };
}

interface RunFlags extends OutputFlags {
  once?: boolean;
  config?: string;
  stateTable?: string;
  userData?: string;
  owner?: string;
}

/** `spotferry controller run`, `spotferry pool apply FILE`, `spotferry rotate POOL`. */
export function registerControllerCommands(program: Command): void {
  registerControllerRun(program.command("controller"));
  registerPoolApply(program);
  registerRotate(program);
}

function registerControllerRun(controller: Command): void {
  const run = controller
    .command("run")
    .description("reconcile pools and exports: provision, replace interrupted nodes, rotate, reap, finalize (leader-elected)")
    .option("--once", "one pass of every reconciler, then exit (cron / Lambda style)")
    .option("--config <file>", "controller settings (kind: ControllerSettings)")
    .option("--state-table <name>", "state table (default: settings, then $SPOTFERRY_STATE_TABLE)")
    .option("--user-data <file>", "fixed shell script for the nodes instead of the rendered bootstrap ($SPOTFERRY_USER_DATA)")
    .option("--owner <id>", "this replica's id in the leader lease (default host:pid:random)");
  // With --once: what ran, as data.
  addOutputOptions(run).action((flags: RunFlags) => runCommand(() => controllerRun(flags)));
}

async function controllerRun(flags: RunFlags): Promise<void> {
  const settings = await loadSettings(flags.config, flags.stateTable);
  const result = await runController({ settings, once: flags.once, userDataFile: flags.userData, owner: flags.owner });
  if (!result) return;
  if (!(await emitData(flags, result)))
    log(result.leader ? `ran ${result.ran.join(", ")}` : "another controller holds the leader lease; nothing done");
}

function registerPoolApply(program: Command): void {
  const apply = program
    .command("pool")
    .command("apply <file>")
    .description("create or update a pool from its spec (kind: Pool); generation and counters are kept")
    .option("--state-table <name>", "state table (default $SPOTFERRY_STATE_TABLE or spotferry)");
  addOutputOptions(apply).action((file: string, opts: PoolFlags) => runCommand(() => poolApply(file, opts)));
}

type PoolFlags = OutputFlags & { stateTable?: string };

async function poolApply(file: string, opts: PoolFlags): Promise<void> {
  const spec = await loadConfigFile(file, "Pool");
  const settings = await loadSettings(undefined, opts.stateTable);
  const { client, fleet } = fleetStore(settings);
  try {
    const { record, created } = await fleet.applyPool(spec);
    if (!(await emitData(opts, record)))
      process.stdout.write(`pool ${record.pool} ${created ? "created" : "updated"} (generation ${record.generation})\n`);
  } finally {
    client.destroy();
  }
}

function registerRotate(program: Command): void {
  program
    .command("rotate <pool>")
    .option("--state-table <name>", "state table (default $SPOTFERRY_STATE_TABLE or spotferry)")
    .action((pool: string, opts: { stateTable?: string }) => runCommand(() => rotate(pool, opts)));
}

async function rotate(pool: string, opts: { stateTable?: string }): Promise<void> {
  const settings = await loadSettings(undefined, opts.stateTable);
  const { client, fleet } = fleetStore(settings);
  try {
    const record = await fleet.bumpGeneration(pool);
    process.stdout.write(`pool ${pool}: rotating to generation ${record.generation}\n`);
  } finally {
    client.destroy();
  }
}
