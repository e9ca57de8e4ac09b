/**
 * The agent's command line, shared by `spotferry agent run` (controller/cli/agent-commands.ts) and the standalone
 * node bundle's entry (agent/main.ts), so both accept the same flags and resolve settings the same way.
 */
import type { Command } from "commander";
import { loadConfigFile, parseConfigText, validateConfig } from "../config/load.ts";
import type { agentSettings } from "../config/settings.ts";
import { s3Client } from "../lib/aws/s3.ts";
import { systemClock } from "../lib/clock.ts";
import { dynamoClient } from "../lib/dynamo/client.ts";
import { checkLayout } from "../lib/dynamo/layout.ts";
import { ExitCode, UserError } from "../lib/errors.ts";
import { DynamoJobStore } from "../lib/jobs/dynamo-job-store.ts";
import { Agent } from "./agent.ts";
import { DEFAULT_IMDS, Imds } from "./imds.ts";
import { onSupervisorGone, PROCESS_ENV, superviseAgents } from "./processes.ts";

export interface AgentFlags {
  config?: string;
  pool?: string;
  nodeId?: string;
  stateTable?: string;
  idleExit?: string;
  lease?: string;
  heartbeat?: string;
  imds?: string | false;
  imdsPoll?: string;
  concurrency?: string;
  processes?: string;
}

/** Declares the agent's flags on a commander command. */
export function addAgentRunOptions(cmd: Command): Command {
  return cmd
    .option("--config <file>", "agent settings (kind: AgentSettings)")
    .option("--pool <name>", "pool whose partitions to claim ($SPOTFERRY_POOL)")
    .option("--node-id <id>", "this node's id ($SPOTFERRY_NODE_ID; on EC2 read from IMDS)")
    .option("--state-table <name>", "DynamoDB state table ($SPOTFERRY_STATE_TABLE, default spotferry)")
    .option("--idle-exit <duration>", 'exit after this long without claimable work (e.g. "2m")')
    .option("--lease <duration>", "partition lease length")
    .option("--heartbeat <duration>", "lease heartbeat interval")
    .option("--concurrency <n>", "partitions worked on at once by each process")
    .option("--processes <n>", "agent processes on this node, one per core to use (each claims its own partitions)")
    .option("--imds <url>", "instance metadata endpoint (default $AWS_EC2_METADATA_SERVICE_ENDPOINT)")
    .option("--no-imds", "do not watch instance metadata (local mode)")
    .option("--imds-poll <duration>", "how often to poll IMDS for spot notices (default 5s)");
}

/** Settings from an optional file, overridden by flags, then by SPOTFERRY_* variables the bootstrap writes. */
export async function resolveAgentSettings(flags: AgentFlags) {
  const base = flags.config ? await loadConfigFile(flags.config, "AgentSettings") : {};
  const env = process.env;
  const merged: Record<string, unknown> = { ...base };
  const set = (key: string, value: string | undefined, parse = false) => {
    if (value !== undefined) merged[key] = parse ? parseConfigText(value, key) : value;
  };
  set("pool", flags.pool ?? env.SPOTFERRY_POOL);
  set("nodeId", flags.nodeId ?? env.SPOTFERRY_NODE_ID);
  set("stateTable", flags.stateTable ?? env.SPOTFERRY_STATE_TABLE);
  set("idleExitAfter", flags.idleExit);
  set("partitionLease", flags.lease);
  set("heartbeatInterval", flags.heartbeat);
  set("imdsPollInterval", flags.imdsPoll);
  set("concurrency", flags.concurrency, true);
  set("processes", flags.processes, true);
  if (typeof flags.imds === "string") merged.imdsEndpoint = flags.imds;
  return validateConfig(
    { ...merged, kind: "AgentSettings" },
    "agent settings (file, flags and SPOTFERRY_* variables)",
    "AgentSettings",
  ) as ReturnType<typeof agentSettings.parse>;
}

/**
 * A state table that does not exist is a wrong --state-table (or DynamoDB endpoint), never "no work": an agent that
 * went on would find nothing to claim and exit 0 as idle. Agents never create the table.
 */
function missingTable(err: unknown, table: string): UserError | null {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e.name === "ResourceNotFoundException") {
      return new UserError(
        `state table ${table} does not exist${process.env.AWS_ENDPOINT_URL_DYNAMODB ? ` at ${process.env.AWS_ENDPOINT_URL_DYNAMODB}` : ""}: ` +
          "check --state-table or $SPOTFERRY_STATE_TABLE (the controller and `export plan` create it, agents never do)",
        { exitCode: ExitCode.usage, cause: err },
      );
    }
  }
  return null;
}

/** Runs the agent until it drains or idles out; SIGTERM/SIGINT drain it. Returns the process exit code. */
export async function runAgent(flags: AgentFlags): Promise<number> {
  const settings = await resolveAgentSettings(flags);
  const tag = process.env[PROCESS_ENV] ? `[${process.env[PROCESS_ENV]}] ` : "";
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${tag}${line}\n`);
  if (settings.processes > 1) return superviseAgents({ processes: settings.processes, argv: process.argv.slice(1), log });
  const endpoint = flags.imds === false ? undefined : (settings.imdsEndpoint ?? process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT);
  const imds = endpoint ? new Imds(endpoint, systemClock) : settings.nodeId ? undefined : new Imds(DEFAULT_IMDS, systemClock);
  let nodeId = settings.nodeId;
  if (!nodeId) {
    nodeId = (await imds?.get("meta-data/instance-id").catch(() => null)) ?? undefined;
    if (!nodeId)
      throw new UserError("no node id: pass --node-id (local mode) or run on an instance with IMDS", { exitCode: ExitCode.usage });
  }
  const client = dynamoClient();
  // A table of a layout this agent does not know is refused before anything is claimed (one line, exit 3).
  await checkLayout({ client, tableName: settings.stateTable, clock: systemClock, migrate: false }).catch((err) => {
    client.destroy();
    throw missingTable(err, settings.stateTable) ?? err;
  });
  const s3 = s3Client();
  const store = new DynamoJobStore({ client, tableName: settings.stateTable, clock: systemClock });
  const worker = new Agent({ store, s3, clock: systemClock, settings: { ...settings, nodeId }, imds, log });
  const onSignal = (sig: string) => worker.drain({ mode: "now", interrupted: false, reason: sig });
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  process.once("SIGINT", () => onSignal("SIGINT"));
  onSupervisorGone(() => onSignal("the supervising agent process is gone"));
  try {
    const summary = await worker.run();
    return summary.outcomes.failed > 0 && summary.outcomes.completed === 0 ? ExitCode.failure : ExitCode.ok;
  } finally {
    client.destroy();
    s3.destroy();
  }
}
