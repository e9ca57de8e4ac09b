import type { Command } from "commander";
import { runCommand } from "../../lib/cli/run.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { ACCOUNT_REF, REGION_REF, renderTemplate } from "../deploy/cfn.ts";
import { deployTemplate } from "../deploy/template.ts";
import type { PolicyInput } from "../iam/policies.ts";
import { policyInput } from "./iam-commands.ts";

export interface TemplateFlags {
  config?: string[];
  account?: string;
  region?: string;
  output?: string;
}

/** `spotferry deploy template --config FILE... [--account ID] [--region R] [-o yaml|json]`. */
export function registerDeployCommands(program: Command): void {
  program
    .command("deploy")
    .command("template")
    .description("print the CloudFormation template of the roles, instance profiles, state table and artifact bucket")
    .option("--config <file...>", "the ControllerSettings, Pool and Export files (as for `iam policy`)")
    .option("--account <id>", "account id in the ARNs (default: the stack's AWS::AccountId, through Fn::Sub)")
    .option("--region <region>", "region in the ARNs (default: the stack's AWS::Region; $AWS_REGION is not read)")
    .option("-o, --output <format>", "yaml or json", "yaml")
    .action((flags: TemplateFlags) => runCommand(async () => process.stdout.write(await templateText(flags))));
}

/**
 * The PolicyInput of `iam policy` for the same flags, except that an account or region not given becomes the stack's
 * pseudo-parameter, so the template deploys in any account and region.
 */
export async function templateInput(flags: TemplateFlags): Promise<PolicyInput> {
  // The region given is checked by policyInput; "*" stands in for the one not given (and keeps $AWS_REGION out).
  const input = await policyInput({ config: flags.config, account: flags.account, region: flags.region ?? "*" });
  return { ...input, account: flags.account ?? ACCOUNT_REF, region: flags.region ?? REGION_REF };
}

export async function templateText(flags: TemplateFlags): Promise<string> {
  const format = flags.output ?? "yaml";
  if (format !== "yaml" && format !== "json") {
    throw new UserError(`-o: expected yaml or json, got ${JSON.stringify(format)}`, { exitCode: ExitCode.usage });
  }
  return renderTemplate(deployTemplate(await templateInput(flags)), format);
}
