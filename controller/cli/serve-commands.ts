import type { Command } from "commander";
import { intFlag } from "../../lib/cli/flags.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { parseListen, startStatusServer } from "../http/server.ts";
import { type CommonFlags, tableOf, thresholds, withStores, withThresholds } from "./oncall-shared.ts";

/** `spotferry serve --http 127.0.0.1:PORT`: the read-only status page (controller/http/). */
export function registerServeCommands(program: Command): void {
  withThresholds(program.command("serve"))
    .option("--http <host:port>", "address to listen on", "127.0.0.1:8080")
    .option("--allow-remote", "allow a non-loopback --http address")
    .option("--refresh <s>", "seconds between page reloads", "10")
    .option("--state-table <name>", "DynamoDB state table (default: $SPOTFERRY_STATE_TABLE or spotferry)")
    .action(
      (flags: CommonFlags & { http: string; allowRemote?: boolean; refresh: string; stallMinutes?: string; heartbeatTimeout?: string }) =>
        runCommand(async () => {
          let listen: { host: string; port: number };
          try {
            listen = parseListen(flags.http, flags.allowRemote ?? false);
          } catch (err) {
            throw new UserError((err as Error).message, { exitCode: ExitCode.usage });
          }
          const refreshSec = intFlag("--refresh", flags.refresh, { min: 1, max: 86_400 });
          await withStores(flags, async (deps) => {
            const page = await startStatusServer(deps, {
              ...listen,
              refreshSec,
              status: thresholds(flags),
              log: (l) => process.stderr.write(`${l}\n`),
            });
            process.stderr.write(`status page for state table ${tableOf(flags)} at ${page.url} (read-only; Ctrl-C to stop)\n`);
            await new Promise<void>((resolve) => {
              process.once("SIGINT", resolve);
              process.once("SIGTERM", resolve);
            });
            await page.close();
          });
        }),
    );
}
