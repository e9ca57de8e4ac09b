import { PRODUCTION_COMMANDS } from "../../controller/cli/main.ts";
import { type CommandGroup, runCli } from "../../controller/cli/program.ts";

/**
 * The CLI of a checkout: the production commands plus the local rehearsal's (`local`, `sim`, `demo`), which start
 * MariaDB, DynamoDB Local, Swift and the sim and so are never part of what ships (dist/spotferry.mjs). bin/spotferry.mjs
 * runs this build (dist/spotferry-dev.mjs) when it finds one.
 */
export const DEV_COMMANDS: CommandGroup[] = [
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
];

export async function main(argv: string[]): Promise<void> {
  await runCli(argv, [...PRODUCTION_COMMANDS, ...DEV_COMMANDS]);
}
