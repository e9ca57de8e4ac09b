import type { Command } from "commander";
import { addOutputOptions, type Column, emitData, type OutputFlags, renderColumns } from "../../lib/cli/output.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { ExitCode } from "../../lib/errors.ts";
import { envFile, stackDown, stackHome, stackStatus, stackUp } from "../stack/stack.ts";

const log = (line: string) => process.stderr.write(`${line}\n`);

export function registerLocalCommands(program: Command): void {
  const local = program.command("local");

  local
    .command("up")
    .description("start the local services (idempotent: healthy ones are reused) and write .spotferry/local.env")
    .action(() =>
      runCommand(async () => {
        const home = stackHome();
        const t0 = Date.now();
        const { started, reused } = await stackUp({ home, log });
        log(
          `local stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s (started: ${started.join(", ") || "none"}; reused: ${reused.join(", ") || "none"})`,
        );
        process.stdout.write(`source ${envFile(home)}\n`);
      }),
    );

  local
    .command("down")
    .description("stop exactly the processes `local up` started (data and settings are kept)")
    .action(() =>
      runCommand(async () => {
        const stopped = await stackDown({ home: stackHome(), log });
        log(stopped.length ? `stopped: ${stopped.join(", ")}` : "nothing was running");
      }),
    );

  addOutputOptions(
    local.command("status").description("each service, its port and whether it answers real client calls; exit 4 when one is not healthy"),
  ).action((opts: OutputFlags) =>
    runCommand(async () => {
      const statuses = await stackStatus(stackHome());
      if (!(await emitData(opts, statuses))) {
        const columns: Column<(typeof statuses)[number]>[] = [
          { header: "service", value: (s) => s.name },
          { header: "port", value: (s) => (s.port === undefined || s.port === null ? "-" : String(s.port)) },
          { header: "pids", value: (s) => s.pids.join(",") || "-" },
          { header: "state", value: (s) => (s.healthy ? "healthy" : s.running ? `unhealthy: ${s.error ?? "?"}` : "stopped") },
        ];
        process.stdout.write(renderColumns(columns, statuses));
      }
      return statuses.every((s) => s.healthy) ? ExitCode.ok : ExitCode.checkFailed;
    }),
  );
}
