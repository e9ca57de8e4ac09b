import { Command, CommanderError } from "commander";
import { ExitCode } from "../../lib/errors.ts";
import pkg from "../../package.json" with { type: "json" };

type Register = (program: Command) => void;

/**
 * Every top-level command, the one line `spotferry --help` prints for it, and the module(s) that define it. Only the
 * modules of the command asked for are loaded, so `--help` and `--version` load none and `status` loads the DynamoDB
 * client but not EC2, MySQL, DuckDB or the sim. A group's module registers its commands without their top-level
 * description; this table supplies it.
 */
const COMMANDS: { names: Record<string, string>; load: () => Promise<Register[]> }[] = [
  {
    names: { config: "validate and inspect configuration files" },
    load: async () => [(await import("./config-commands.ts")).registerConfigCommands],
  },
  { names: { agent: "the node worker" }, load: async () => [(await import("./agent-commands.ts")).registerAgentCommands] },
  {
    names: { export: "plan, run, inspect and verify exports" },
    load: async () => [
      (await import("./export-commands.ts")).registerExportCommands,
      (await import("./export-run-commands.ts")).registerExportRunCommands,
    ],
  },
  {
    names: { local: "the local stack: MariaDB, DynamoDB Local and an S3-compatible store on 127.0.0.1 (state in .spotferry/)" },
    load: async () => [(await import("./local-commands.ts")).registerLocalCommands],
  },
  {
    names: {
      demo: "the local rehearsal: export a generated call log on a simulated spot fleet with interruptions, a rotation and a controller crash, then verify it",
    },
    load: async () => [(await import("./demo-commands.ts")).registerDemoCommands],
  },
  {
    names: { sim: "the local spot market: EC2, IMDSv2 and CloudWatch on 127.0.0.1, with fault injection" },
    load: async () => [(await import("./sim-commands.ts")).registerSimCommands],
  },
  {
    names: {
      controller: "the fleet controller",
      pool: "fleet pools",
      rotate: "replace every node of a pool (blue/green): bumps its generation; the controller rotates within the disruption budget",
    },
    load: async () => [(await import("./controller-commands.ts")).registerControllerCommands],
  },
  {
    names: { schedule: "incremental runs of an export (watermark, drift, quality)" },
    load: async () => [(await import("./schedule-commands.ts")).registerScheduleCommands],
  },
  {
    names: {
      status: "what runs where, what needs a human (listed first), progress, rate, ETA and cost; exit 4 when something needs a human",
      watch: "live view of `status`, redrawn in place (same as status --watch)",
      exports: "exports, newest first: state, % done, rows/s, ETA, cost so far, partitions by state",
      nodes: "nodes: type, zone, lifecycle, price, age, heartbeat age, current partition, rows/s",
      node: "one node",
    },
    load: async () => [(await import("./oncall-commands.ts")).registerOncallCommands],
  },
  {
    names: {
      partition: "one partition",
      why: "why an export (or one partition) is stuck, in plain language, from the ledger; exit 4 when it is stuck",
    },
    load: async () => [(await import("./inspect-commands.ts")).registerInspectCommands],
  },
  {
    names: {
      retry: "put a quarantined partition (or every quarantined partition of an export) back on the queue with fresh attempts",
      cancel: "cancel an export: CANCELLED, pending partitions off the queue, running ones stop at their next chunk",
      drain: "drain a node: DRAINING, its instance is terminated (the agent commits its chunk and releases) and the controller replaces it",
      scale: "change a pool's capacity bounds (the controller sizes the fleet from pending work within them)",
      logs: "the agent log of a node over SSH (host key verified against the node's console output)",
    },
    load: async () => [(await import("./action-commands.ts")).registerActionCommands],
  },
  {
    names: {
      serve: "serve the read-only status page (same information as `status`, charts, timeline); loopback only by default",
    },
    load: async () => [(await import("./serve-commands.ts")).registerServeCommands],
  },
];

/** The top-level command an argument list asks for (`help X` asks for X), or undefined for the program's own help. */
export function commandAsked(args: string[]): string | undefined {
  const words = args.filter((a) => !a.startsWith("-"));
  return words[0] === "help" ? words[1] : words[0];
}

/**
 * Builds the `spotferry` program with the commands of `only` (a top-level name) defined in full and every other
 * command as a one-line entry for the help listing; without `only`, every command in full (for tests that walk the
 * whole tree).
 */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command("spotferry")
    .description("Export MySQL tables to S3 on EC2 spot fleets, exactly once.")
    .version(pkg.version, "-V, --version", "print the version")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  for (const group of COMMANDS) {
    const names = Object.keys(group.names);
    if (only === undefined || names.includes(only)) {
      for (const register of await group.load()) register(program);
      for (const name of names) program.commands.find((c) => c.name() === name)?.description(group.names[name] ?? "");
    } else {
      for (const name of names) program.command(name).description(group.names[name] ?? "");
    }
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const asked = commandAsked(argv.slice(2));
  const known = COMMANDS.some((g) => asked !== undefined && asked in g.names);
  // An unknown word gets the stub listing, so commander's "unknown command" suggests the real names.
  const program = await buildProgram(known ? asked : "");
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage mistakes exit 2 (commander has already printed the message).
      process.exit(err.exitCode === 0 ? ExitCode.ok : ExitCode.usage);
    }
    throw err;
  }
}
