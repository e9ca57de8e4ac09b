import { Command, CommanderError } from "commander";
import { addGlobalOptions } from "../../lib/cli/global-options.ts";
import { ExitCode } from "../../lib/errors.ts";
import pkg from "../../package.json" with { type: "json" };

export type Register = (program: Command) => void;

/**
 * Top-level commands that one module (or a few) define: the one line `spotferry --help` prints for each, and how to
 * load their definitions. Only the group of the command asked for is loaded, so `--help` and `--version` load none.
 * A group's module registers its commands without their top-level description; the group supplies it.
 */
export interface CommandGroup {
  names: Record<string, string>;
  load: () => Promise<Register[]>;
}

/** The top-level command an argument list asks for (`help X` asks for X), or undefined for the program's own help. */
export function commandAsked(args: string[]): string | undefined {
  const words = args.filter((a) => !a.startsWith("-"));
  return words[0] === "help" ? words[1] : words[0];
}

/**
 * Builds the `spotferry` program with the group of `only` (a top-level name) defined in full and every other command
 * as a one-line entry for the help listing; without `only`, every group in full (for tests that walk the whole tree).
 */
export async function buildProgram(groups: CommandGroup[], only?: string): Promise<Command> {
  const program = new Command("spotferry")
    .description("Export MySQL tables to S3 on EC2 spot fleets, exactly once.")
    .version(pkg.version, "-V, --version", "print the version")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  for (const group of groups) {
    const names = Object.keys(group.names);
    if (only === undefined || names.includes(only)) {
      for (const register of await group.load()) register(program);
      for (const name of names) program.commands.find((c) => c.name() === name)?.description(group.names[name] ?? "");
    } else {
      for (const name of names) program.command(name).description(group.names[name] ?? "");
    }
  }
  addGlobalOptions(program);
  return program;
}

/** Parses `argv` against `groups` and runs the command; usage mistakes exit 2 (commander has printed the message). */
export async function runCli(argv: string[], groups: CommandGroup[]): Promise<void> {
  const asked = commandAsked(argv.slice(2));
  const known = groups.some((g) => asked !== undefined && asked in g.names);
  // An unknown word gets the stub listing, so commander's "unknown command" suggests the real names.
  const program = await buildProgram(groups, known ? asked : "");
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? ExitCode.ok : ExitCode.usage);
    throw err;
  }
}
