import { Command, CommanderError } from "commander";
import { ExitCode } from "../../lib/errors.ts";
import { registerActionCommands } from "./action-commands.ts";
import { registerAgentCommands } from "./agent-commands.ts";
import { registerConfigCommands } from "./config-commands.ts";
import { registerControllerCommands } from "./controller-commands.ts";
import { registerDemoCommands } from "./demo-commands.ts";
import { registerExportCommands } from "./export-commands.ts";
import { registerExportRunCommands } from "./export-run-commands.ts";
import { registerInspectCommands } from "./inspect-commands.ts";
import { registerLocalCommands } from "./local-commands.ts";
import { registerOncallCommands } from "./oncall-commands.ts";
import { registerScheduleCommands } from "./schedule-commands.ts";
import { registerServeCommands } from "./serve-commands.ts";
import { registerSimCommands } from "./sim-commands.ts";

/** Builds the `spotferry` program. Each concern registers its own subcommands. */
export function buildProgram(): Command {
  const program = new Command("spotferry")
    .description("Export MySQL tables to S3 on EC2 spot fleets, exactly once.")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  registerConfigCommands(program);
  registerAgentCommands(program);
  registerExportCommands(program);
  registerExportRunCommands(program);
  registerLocalCommands(program);
  registerDemoCommands(program);
  registerSimCommands(program);
  registerControllerCommands(program);
  registerScheduleCommands(program);
  // On call: read views first, then actions, then the status page.
  registerOncallCommands(program);
  registerInspectCommands(program);
  registerActionCommands(program);
  registerServeCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
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
