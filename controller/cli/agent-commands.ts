import type { Command } from "commander";
import { type AgentFlags, addAgentRunOptions, runAgent } from "../../agent/settings.ts";
import { runCommand } from "../../lib/cli/run.ts";

/** `spotferry agent run`: the same flags and settings resolution as the node bundle's entry (agent/main.ts). */
export function registerAgentCommands(program: Command): void {
  const agent = program.command("agent");
  addAgentRunOptions(
    agent.command("run").description("claim partitions of a pool and stream them from MySQL to S3 until drained or idle"),
  ).action((flags: AgentFlags) => runCommand(() => runAgent(flags)));
}
