/**
 * Entry of the standalone agent bundle that nodes run (bootstrap/bundle.ts packages it with esbuild):
 * `node spotferry-agent.mjs [flags]` takes exactly the flags of `spotferry agent run` (agent/settings.ts), plus
 * `--self-test`. Kept apart from the operator CLI so the bundle carries only the agent's code.
 */
import { Command } from "commander";
import { runCommand } from "../lib/cli/run.ts";
import { selfTest } from "./self-test.ts";
import { type AgentFlags, addAgentRunOptions, runAgent } from "./settings.ts";

const program = addAgentRunOptions(
  new Command("spotferry-agent").description("spotferry node agent: claim partitions of a pool and stream them from MySQL to S3"),
)
  .option("--self-test", "encode a small Parquet file in memory (worker thread, wasm codecs) and exit")
  .action((flags: AgentFlags & { selfTest?: boolean }) =>
    runCommand(async () => {
      if (flags.selfTest) {
        process.stdout.write(`${await selfTest()}\n`);
        return 0;
      }
      return runAgent(flags);
    }),
  );

await program.parseAsync(process.argv);
