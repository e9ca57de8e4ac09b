import { randomBytes } from "node:crypto";
import { parseConfigText, validateConfig } from "../../config/load.ts";
import { type ControllerSettings, controllerSettings } from "../../config/settings.ts";
import { tableNameFlag } from "../../lib/cli/flags.ts";
import { systemClock } from "../../lib/clock.ts";
import { runController } from "../run-controller.ts";

/** The settings variable: a ControllerSettings document inline (JSON, or YAML), as `spotferry deploy template` writes it. */
export const SETTINGS_ENV = "SPOTFERRY_SETTINGS_JSON";

/** The fields of the Lambda context the handler reads (the runtime passes more). */
export interface LambdaContext {
  awsRequestId?: string;
  functionName?: string;
}

/** What one invocation returns (and logs as one JSON line). */
export interface PassReport {
  /** Whether this invocation held the leader lease; false: another controller (replica, earlier invocation) leads. */
  leader: boolean;
  /** The reconcilers that ran, in order (empty when not leader). */
  ran: string[];
  /** This invocation's id in the leader lease. */
  owner: string;
  stateTable: string;
  durationMs: number;
}

/**
 * ControllerSettings from the environment: $SPOTFERRY_SETTINGS_JSON (default: the defaults), then
 * $SPOTFERRY_STATE_TABLE over its stateTable, as `controller run` applies it over a --config file.
 */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): ControllerSettings {
  const text = env[SETTINGS_ENV];
  const settings = text
    ? validateConfig(parseConfigText(text, `$${SETTINGS_ENV}`), `$${SETTINGS_ENV}`, "ControllerSettings")
    : controllerSettings.parse({});
  const table = env.SPOTFERRY_STATE_TABLE;
  return table ? { ...settings, stateTable: tableNameFlag("$SPOTFERRY_STATE_TABLE", table) } : settings;
}

/**
 * A scheduled Lambda invocation (EventBridge, any event): one pass of every reconciler, exactly `controller run --once`
 * (runController), under an owner unique to the invocation. Overlapping invocations are safe: the leader lease lets one
 * act, the others return leader=false. Clients are opened per invocation and closed before it returns, so a frozen
 * execution environment holds no sockets.
 */
export async function handler(_event: unknown, context: LambdaContext = {}): Promise<PassReport> {
  const started = systemClock.now();
  const settings = settingsFromEnv();
  const owner = `lambda:${context.functionName ?? "local"}:${context.awsRequestId ?? randomBytes(4).toString("hex")}`;
  const result = await runController({ settings, once: true, owner });
  if (!result) throw new Error("running one controller pass: no result (runController without once)");
  const report: PassReport = {
    leader: result.leader,
    ran: result.ran,
    owner,
    stateTable: settings.stateTable,
    durationMs: systemClock.now() - started,
  };
  // One line per pass, JSON so CloudWatch Logs Insights can filter on it.
  process.stdout.write(`${JSON.stringify({ msg: "spotferry controller pass", ...report })}\n`);
  return report;
}
