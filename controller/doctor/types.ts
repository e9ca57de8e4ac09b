import type { Env } from "../../lib/aws/env.ts";
import { describeError } from "../../lib/errors.ts";
import type { PolicyInput } from "../iam/policies.ts";

/**
 * One line of `spotferry doctor`: a check's verdict. `fail` says what is wrong and what to do; `skip` says why the
 * check could not run here (nothing to check, or the endpoint does not serve the call), and does not fail the run.
 */
export type CheckStatus = "ok" | "fail" | "skip";

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
}

/** Who the credentials are (STS GetCallerIdentity). */
export interface CallerIdentity {
  arn: string;
  account: string;
}

export interface DoctorOptions {
  /** The environment the AWS clients are built from (lib/aws/): region, keys, AWS_ENDPOINT_URL_*. */
  env: Env;
  /** The configs, read as `spotferry iam policy` reads them (controller/cli/iam-commands.ts `policyInput`). */
  input: PolicyInput;
  /** The roles whose policies are simulated; default: the caller's own role (controller), the pools' profiles' roles (node). */
  controllerRole?: string;
  nodeRole?: string;
  /** Per check, milliseconds; default 30 s. */
  timeoutMs?: number;
}

/** What every check gets: the options, the caller's identity (shared, looked up once) and its deadline. */
export interface CheckContext extends DoctorOptions {
  identity: () => Promise<CallerIdentity>;
  region: string;
  signal: AbortSignal;
}

/** One check group: a name for its timeout line, and a body that reports one or more lines. */
export interface Check {
  name: string;
  run(ctx: CheckContext): Promise<CheckResult[]>;
}

export const ok = (name: string, detail: string): CheckResult => ({ name, status: "ok", detail });
export const fail = (name: string, detail: string): CheckResult => ({ name, status: "fail", detail });
export const skip = (name: string, detail: string): CheckResult => ({ name, status: "skip", detail });

/** An SDK error (possibly wrapped with what was being done) as one phrase: its code, then the messages. */
export function awsError(err: unknown): string {
  let root: unknown = err;
  while (root instanceof Error && root.cause instanceof Error) root = root.cause;
  const name = (root as Error | undefined)?.name;
  const text = describeError(err).replace(/\s+/g, " ").trim();
  return name && name !== "Error" && !text.includes(name) ? `${name}: ${text}` : text;
}

export const errName = (err: unknown): string => (err as { name?: string } | null)?.name ?? "";
