import type { Command } from "commander";
import type { ExportSpec } from "../../config/export-spec.ts";
import { loadConfigFile } from "../../config/load.ts";
import type { PoolSpec } from "../../config/pool-spec.ts";
import { type ControllerSettings, controllerSettings } from "../../config/settings.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import type { PolicyDocument } from "../../lib/iam/policy-document.ts";
import { controllerPolicy, nodePolicy, type PolicyInput } from "../iam/policies.ts";

interface PolicyFlags {
  config?: string[];
  account?: string;
  region?: string;
  nodeRole?: string;
  stateTable?: string;
}

const ROLES: Record<string, (input: PolicyInput) => PolicyDocument> = { controller: controllerPolicy, node: nodePolicy };

const usage = (message: string) => new UserError(message, { exitCode: ExitCode.usage });

/** `spotferry iam policy controller|node --config FILE...`: the least-privilege policy document of a role, as JSON. */
export function registerIamCommands(program: Command): void {
  program
    .command("iam")
    .command("policy")
    .description("print the least-privilege IAM policy of the controller role or the node role (IAM JSON, 2012-10-17)")
    .argument("<role>", "controller | node")
    .option("--config <file...>", "the ControllerSettings, Pool and Export files the policy is scoped to (YAML or JSON)")
    .option("--account <id>", 'AWS account id in the ARNs (default "*")')
    .option("--region <region>", 'region of the state table, the fleets and the parameters (default $AWS_REGION, else "*")')
    .option("--state-table <name>", "the state table, instead of the settings' stateTable")
    .option("--node-role <arn>", "the node role for iam:PassRole (default: the role named like each pool's instance profile)")
    .action((role: string, flags: PolicyFlags) =>
      runCommand(async () => {
        const build = ROLES[role];
        if (!build) throw usage(`role: expected controller or node, got ${JSON.stringify(role)}`);
        const input = await policyInput(flags);
        process.stdout.write(`${JSON.stringify(build(input), null, 2)}\n`);
      }),
    );
}

/** Reads every --config file by its kind: at most one ControllerSettings (default: the defaults), any Pools and Exports. */
export async function policyInput(flags: PolicyFlags): Promise<PolicyInput> {
  if (flags.account !== undefined && !/^(\d{12}|\*)$/.test(flags.account)) {
    throw usage(`--account: expected a 12-digit account id, got ${JSON.stringify(flags.account)}`);
  }
  const region = flags.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (region !== undefined && !/^([a-z]{2}(-[a-z]+)+-\d|\*)$/.test(region)) {
    throw usage(`--region: expected a region like us-east-1, got ${JSON.stringify(region)}`);
  }
  if (flags.nodeRole !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(flags.nodeRole)) {
    throw usage(`--node-role: expected a role ARN like arn:aws:iam::123456789012:role/NAME, got ${JSON.stringify(flags.nodeRole)}`);
  }
  let settings: ControllerSettings | undefined;
  const pools: PoolSpec[] = [];
  const exports: ExportSpec[] = [];
  for (const file of flags.config ?? []) {
    const doc = await loadConfigFile(file);
    if (doc.kind === "Pool") pools.push(doc as PoolSpec);
    else if (doc.kind === "Export") exports.push(doc as ExportSpec);
    else if (doc.kind === "ControllerSettings") {
      if (settings) throw usage(`--config ${file}: a second ControllerSettings file; give one`);
      settings = doc as ControllerSettings;
    } else throw usage(`--config ${file}: kind ${doc.kind} does not shape a policy; expected ControllerSettings, Pool or Export`);
  }
  settings ??= controllerSettings.parse({});
  if (flags.stateTable !== undefined) settings = controllerSettings.parse({ ...settings, stateTable: flags.stateTable });
  return {
    settings,
    pools,
    exports,
    account: flags.account,
    region,
    nodeRoleArn: flags.nodeRole,
  };
}
