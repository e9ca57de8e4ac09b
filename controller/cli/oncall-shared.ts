import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { durationFlag, intFlag, positiveFlag, stateTableFlag } from "../../lib/cli/flags.ts";
import { addOutputOptions, type OutputFlags } from "../../lib/cli/output.ts";
import type { Clock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { checkLayout } from "../../lib/dynamo/layout.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { cliClock } from "../oncall/format.ts";
import { DEFAULTS, type OncallDeps, type StatusOptions } from "../oncall/status.ts";
import { DynamoFleetStore } from "../store/dynamo-fleet-store.ts";
import { DynamoScheduleStore } from "../store/dynamo-schedule-store.ts";

/** Plumbing shared by the on-call commands: stores on the state table, common flags, confirmation of actions. */

export interface CommonFlags extends OutputFlags {
  stateTable?: string;
}

export const tableOf = (flags: CommonFlags) => stateTableFlag(flags.stateTable);

export function withCommon(cmd: Command): Command {
  return addOutputOptions(cmd.option("--state-table <name>", "DynamoDB state table (default: $SPOTFERRY_STATE_TABLE or spotferry)"));
}

export function withThresholds(cmd: Command): Command {
  return cmd
    .option("--stall-minutes <n>", "an export with no committed chunk for this long is making no progress", String(DEFAULTS.stallMinutes))
    .option(
      "--heartbeat-timeout <s>",
      "a node silent this long while work waits is not heartbeating",
      String(DEFAULTS.heartbeatTimeoutSec),
    );
}

export function thresholds(flags: { stallMinutes?: string; heartbeatTimeout?: string }): StatusOptions {
  return {
    stallMinutes: flags.stallMinutes === undefined ? undefined : positiveFlag("--stall-minutes", flags.stallMinutes, 7 * 24 * 60),
    heartbeatTimeoutSec:
      flags.heartbeatTimeout === undefined
        ? undefined
        : durationFlag("--heartbeat-timeout", flags.heartbeatTimeout, { min: 1, max: 86_400 }),
  };
}

/**
 * Opens both stores on the state table for one command and closes the client afterwards. A missing table is the
 * usual first-run mistake, so it gets its own message (exit 3) instead of an SDK error.
 */
export async function withStores<T>(
  flags: CommonFlags,
  body: (deps: OncallDeps & { clock: Clock; tableName: string }) => Promise<T>,
): Promise<T> {
  const tableName = tableOf(flags);
  const client = dynamoClient();
  const clock = cliClock();
  try {
    await checkLayout({ client, tableName, clock, migrate: false });
    return await body({
      jobs: new DynamoJobStore({ client, tableName, clock }),
      fleet: new DynamoFleetStore({ client, tableName, clock }),
      schedules: new DynamoScheduleStore({ client, tableName, clock }),
      clock,
      tableName,
    });
  } catch (err) {
    if (hasCause(err, "ResourceNotFoundException")) {
      throw new UserError(
        `state table ${tableName} does not exist here (check --state-table, $SPOTFERRY_STATE_TABLE and the AWS endpoint)`,
        {
          exitCode: ExitCode.unavailable,
          cause: err,
        },
      );
    }
    throw err;
  } finally {
    client.destroy();
  }
}

function hasCause(err: unknown, name: string): boolean {
  for (let e: unknown = err, i = 0; e && i < 8; i++) {
    if ((e as { name?: string }).name === name) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Confirms an action: --yes skips the question; without a terminal (cron, CI, a pipe) and without --yes it is refused,
 * so a script never changes anything by accident. Declining at the prompt exits 1 with nothing changed.
 */
export async function confirm(what: string, flags: { yes?: boolean }): Promise<void> {
  if (flags.yes) return;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UserError(`refusing to ${what} without confirmation: no terminal to ask on; pass --yes`, { exitCode: ExitCode.usage });
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`About to ${what}.\nProceed? [y/N] `)).trim().toLowerCase();
    if (answer !== "y" && answer !== "yes") throw new UserError("aborted: nothing was changed", { exitCode: ExitCode.failure });
  } finally {
    rl.close();
  }
}

export function parsePartition(text: string): number {
  return intFlag("partition", text, { min: 0, max: 999_999 });
}
