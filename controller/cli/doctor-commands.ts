import type { Command } from "commander";
import { durationFlag } from "../../lib/cli/flags.ts";
import { addOutputOptions, emitData, type OutputFlags } from "../../lib/cli/output.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { doctorExitCode, formatResults, runDoctor } from "../doctor/runner.ts";
import { policyInput } from "./iam-commands.ts";

interface DoctorFlags extends OutputFlags {
  config?: string[];
  controllerRole?: string;
  nodeRole?: string;
  stateTable?: string;
  timeout: string;
}

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/;

/**
 * `spotferry doctor --config FILE...`: a read-only preflight of the account the environment points at, before the
 * first export (controller/doctor/README.md). Exit 0 when every check passes or is skipped, 4 (ExitCode.checkFailed:
 * the account needs a human) when any fails, 2 for bad flags or configs.
 */
export function registerDoctorCommands(program: Command): void {
  const doctor = program
    .command("doctor")
    .description(
      "read-only preflight of a real account: credentials and region, state table, buckets, secrets, the roles' policies " +
        "(iam:SimulatePrincipalPolicy) and a DryRun launch per pool; exit 4 when any check fails",
    )
    .option("--config <file...>", "the ControllerSettings, Pool and Export files to check (YAML or JSON), as for `iam policy`")
    .option("--controller-role <arn>", "the controller's role (default: the caller's own role when doctor runs as a role session)")
    .option("--node-role <arn>", "the node role (default: the role named like each pool's instance profile)")
    .option("--state-table <name>", "the state table, instead of the settings' stateTable")
    .option("--timeout <duration>", "deadline of each check", "30s");
  // As data: { name, status, detail } per check.
  addOutputOptions(doctor).action((flags: DoctorFlags) =>
    runCommand(async () => {
      for (const [flag, value] of [
        ["--controller-role", flags.controllerRole],
        ["--node-role", flags.nodeRole],
      ] as const) {
        if (value !== undefined && !ROLE_ARN.test(value)) {
          throw new UserError(`${flag}: expected a role ARN like arn:aws:iam::123456789012:role/NAME, got ${JSON.stringify(value)}`, {
            exitCode: ExitCode.usage,
          });
        }
      }
      if (!flags.config?.length)
        throw new UserError("--config: give the ControllerSettings, Pool and Export files", { exitCode: ExitCode.usage });
      const timeoutMs = durationFlag("--timeout", flags.timeout, { min: 1, max: 600 }) * 1000;
      const input = await policyInput({ config: flags.config, stateTable: flags.stateTable, nodeRole: flags.nodeRole });
      const results = await runDoctor({
        env: process.env,
        input,
        controllerRole: flags.controllerRole,
        nodeRole: flags.nodeRole,
        timeoutMs,
      });
      if (!(await emitData(flags, results))) process.stdout.write(formatResults(results));
      return doctorExitCode(results);
    }),
  );
}
