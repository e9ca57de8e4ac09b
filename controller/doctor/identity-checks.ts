import type { Env } from "../../lib/aws/env.ts";
import { GetCallerIdentityCommand, stsClient } from "../../lib/aws/sts.ts";
import { awsError, type CallerIdentity, type Check, fail, ok } from "./types.ts";

/**
 * Credentials and region: who the keys are (STS GetCallerIdentity, which needs no permission), which region every
 * client talks to, and which endpoint overrides are in force (on AWS there should be none; against the local stack
 * every service has one).
 */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

export async function callerIdentity(env: Env, signal: AbortSignal): Promise<CallerIdentity> {
  const sts = stsClient(env);
  try {
    const me = await sts.send(new GetCallerIdentityCommand({}), { abortSignal: signal });
    if (!me.Arn || !me.Account) throw new Error("GetCallerIdentity answered without Arn or Account");
    return { arn: me.Arn, account: me.Account };
  } finally {
    sts.destroy();
  }
}

export const credentialsCheck: Check = {
  name: "credentials",
  async run(ctx) {
    try {
      const me = await ctx.identity();
      return [ok("credentials", `${me.arn} (account ${me.account})`)];
    } catch (err) {
      return [
        fail(
          "credentials",
          `sts:GetCallerIdentity failed: ${awsError(err)}; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY ` +
            "(and AWS_SESSION_TOKEN for a role session), or run where an instance role is attached",
        ),
      ];
    }
  },
};

export const regionCheck: Check = {
  name: "region",
  async run(ctx) {
    const given = ctx.env.AWS_REGION ?? ctx.env.AWS_DEFAULT_REGION;
    const overrides = Object.entries(ctx.env)
      .filter(([k, v]) => k.startsWith("AWS_ENDPOINT_URL") && v)
      .map(([k, v]) => `${k.slice("AWS_ENDPOINT_URL".length).replace(/^_/, "") || "all"}=${v}`)
      .sort();
    const endpoints = overrides.length ? `; endpoint overrides: ${overrides.join(", ")}` : "; no endpoint overrides";
    if (!given) return [fail("region", "AWS_REGION is not set: set it to the region of the state table, the pools and the buckets")];
    if (!REGION.test(given)) return [fail("region", `AWS_REGION=${given} is not a region name like us-east-1`)];
    return [ok("region", `${given}${endpoints}`)];
  },
};
