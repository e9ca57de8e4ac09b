import type { Command } from "commander";
import { ExitCode, UserError } from "../errors.ts";

/**
 * `--profile NAME` and `--region R` on every command (after its name: `spotferry status --profile ops`). They are
 * applied to this process's environment before the command runs, so every AWS client (lib/aws/env.ts) and every
 * process the command starts (the agents of `export run --local`) use the same profile and region:
 *
 * - `--region R` sets AWS_REGION: region is --region, then AWS_REGION or AWS_DEFAULT_REGION, then the profile's
 *   `region` in the shared files, then us-east-1.
 * - `--profile NAME` sets AWS_PROFILE and drops static keys from the environment (AWS_ACCESS_KEY_ID, ...): the command
 *   line beats the environment, so the SDK takes that profile's credentials (keys, role, SSO, credential_process)
 *   from AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE (default ~/.aws/).
 *
 * A command that already defines `--region` with its own meaning (`deploy template`, `iam policy`: the region in ARNs)
 * keeps it and gets only `--profile`.
 */
export interface GlobalFlags {
  profile?: string;
  region?: string;
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const PROFILE = /^[A-Za-z0-9_.@+-]{1,128}$/;

/** Adds both options to every command that runs an action (leaves of the tree) and applies them before it runs. */
export function addGlobalOptions(program: Command): void {
  const ours = new WeakSet<Command>();
  const walk = (cmd: Command) => {
    if (cmd.commands.length) {
      for (const sub of cmd.commands) walk(sub);
      return;
    }
    const has = (long: string) => cmd.options.some((o) => o.long === long);
    if (!has("--profile")) cmd.option("--profile <name>", "AWS profile from the shared config files (beats AWS_* keys)");
    if (!has("--region")) {
      cmd.option("--region <region>", "AWS region (default: $AWS_REGION, the profile's region, us-east-1)");
      ours.add(cmd);
    }
  };
  for (const sub of program.commands) walk(sub);
  program.hook("preAction", (_program, action) => {
    const { profile, region } = action.opts() as GlobalFlags;
    try {
      applyGlobalFlags({ profile, region: ours.has(action) ? region : undefined }, process.env);
    } catch (err) {
      // Outside runCommand (no command body has started): report like it would.
      process.stderr.write(`error: ${(err as Error).message}\n`);
      process.exit(ExitCode.usage);
    }
  });
}

/** Sets AWS_REGION / AWS_PROFILE in `env` from the flags (see above); bad values are usage errors. */
export function applyGlobalFlags(flags: GlobalFlags, env: Record<string, string | undefined>): void {
  if (flags.region !== undefined) {
    if (!REGION.test(flags.region)) throw usage(`--region: expected a region like us-east-1, got ${JSON.stringify(flags.region)}`);
    env.AWS_REGION = flags.region;
  }
  if (flags.profile !== undefined) {
    if (!PROFILE.test(flags.profile)) throw usage(`--profile: expected a profile name, got ${JSON.stringify(flags.profile)}`);
    env.AWS_PROFILE = flags.profile;
    for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) delete env[k];
  }
}

const usage = (message: string) => new UserError(message, { exitCode: ExitCode.usage });
