import { type CommandGroup, runCli } from "./program.ts";

/**
 * The production CLI: every command an operator or a node needs, and nothing of the local rehearsal (the `local`,
 * `sim` and `demo` commands live in sim/cli/, which a checkout's bin adds on top).
 */
export const PRODUCTION_COMMANDS: CommandGroup[] = [
  {
    names: { config: "validate and inspect configuration files" },
    load: async () => [(await import("./config-commands.ts")).registerConfigCommands],
  },
  {
    names: { init: "write a commented export spec for a table, from information_schema (stdout, or -f FILE)" },
    load: async () => [(await import("./init-commands.ts")).registerInitCommands],
  },
  { names: { agent: "the node worker" }, load: async () => [(await import("./agent-commands.ts")).registerAgentCommands] },
  {
    names: { export: "plan, run, inspect and verify exports" },
    load: async () => [
      (await import("./export-commands.ts")).registerExportCommands,
      (await import("./export-run-commands.ts")).registerExportRunCommands,
    ],
  },
  {
    names: {
      controller: "the fleet controller",
      pool: "fleet pools",
      rotate: "replace every node of a pool (blue/green): bumps its generation; the controller rotates within the disruption budget",
    },
    load: async () => [(await import("./controller-commands.ts")).registerControllerCommands],
  },
  {
    names: { schedule: "incremental runs of an export (watermark, drift, quality)" },
    load: async () => [(await import("./schedule-commands.ts")).registerScheduleCommands],
  },
  {
    names: {
      status: "what runs where, what needs a human (listed first), progress, rate, ETA and cost; exit 4 when something needs a human",
      watch: "live view of `status`, redrawn in place (same as status --watch)",
      exports: "exports, newest first: state, % done, rows/s, ETA, cost so far, partitions by state",
      nodes: "nodes: type, zone, lifecycle, price, age, heartbeat age, current partition, rows/s",
      node: "one node",
    },
    load: async () => [(await import("./oncall-commands.ts")).registerOncallCommands],
  },
  {
    names: {
      partition: "one partition",
      why: "why an export (or one partition) is stuck, in plain language, from the ledger; exit 4 when it is stuck",
    },
    load: async () => [(await import("./inspect-commands.ts")).registerInspectCommands],
  },
  {
    names: {
      retry: "put a quarantined partition (or every quarantined partition of an export) back on the queue with fresh attempts",
      cancel: "cancel an export: CANCELLED, pending partitions off the queue, running ones stop at their next chunk",
      drain: "drain a node: DRAINING, its instance is terminated (the agent commits its chunk and releases) and the controller replaces it",
      scale: "change a pool's capacity bounds (the controller sizes the fleet from pending work within them)",
      logs: "the agent log of a node over SSH (host key verified against the node's console output)",
    },
    load: async () => [(await import("./action-commands.ts")).registerActionCommands],
  },
  {
    names: {
      query: "run SQL (DuckDB) over exactly the manifest's objects of an export; the export is the table `export`",
      ddl: "CREATE statement for athena|redshift|spark|duckdb with exact types over exactly the manifest's objects",
    },
    load: async () => [(await import("./query-commands.ts")).registerQueryCommands],
  },
  {
    names: { iam: "least-privilege IAM policies of the controller and node roles, scoped to your config files" },
    load: async () => [(await import("./iam-commands.ts")).registerIamCommands],
  },
  {
    names: { deploy: "what to deploy on AWS: the CloudFormation template of the roles, instance profile, state table and buckets" },
    load: async () => [(await import("./deploy-commands.ts")).registerDeployCommands],
  },
  {
    names: { doctor: "preflight of a real account: credentials, region, table, buckets, secret, roles' policies, CreateFleet DryRun" },
    load: async () => [(await import("./doctor-commands.ts")).registerDoctorCommands],
  },
  {
    names: {
      serve: "serve the read-only status page (same information as `status`, charts, timeline); loopback only by default",
    },
    load: async () => [(await import("./serve-commands.ts")).registerServeCommands],
  },
];

export async function main(argv: string[]): Promise<void> {
  await runCli(argv, PRODUCTION_COMMANDS);
}
