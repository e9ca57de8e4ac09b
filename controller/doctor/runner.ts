import { region as regionOf } from "../../lib/aws/env.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { ExitCode } from "../../lib/errors.ts";
import { callerIdentity, credentialsCheck, regionCheck } from "./identity-checks.ts";
import { policiesCheck } from "./policy-checks.ts";
import { poolsCheck } from "./pool-checks.ts";
import { secretsCheck } from "./secret-checks.ts";
import { bucketsCheck, stateTableCheck } from "./storage-checks.ts";
import { awsError, type CallerIdentity, type Check, type CheckContext, type CheckResult, type DoctorOptions, fail } from "./types.ts";

/**
 * `spotferry doctor`: every check group at once (they are independent; the caller's identity is looked up once and
 * shared), each under its own deadline, results in a fixed order. Read-only: Describe/Head/List/Get calls, IAM
 * simulation and DryRun launches only.
 */
export const CHECKS: readonly Check[] = [
  credentialsCheck,
  regionCheck,
  stateTableCheck,
  bucketsCheck,
  secretsCheck,
  policiesCheck,
  poolsCheck,
];
const DEFAULT_TIMEOUT_MS = 30_000;

async function withDeadline(check: Check, ctx: Omit<CheckContext, "signal">, clock: Clock): Promise<CheckResult[]> {
  const ms = ctx.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const abort = new AbortController();
  const timer = new AbortController();
  const timedOut = clock.sleep(ms, timer.signal).then(
    () => {
      abort.abort(new Error(`timed out after ${ms / 1000} s`));
      return [fail(check.name, `timed out after ${ms / 1000} s: is the endpoint reachable from here?`)];
    },
    () => [] as CheckResult[],
  );
  try {
    return await Promise.race([
      check.run({ ...ctx, signal: abort.signal }).catch((err: unknown) => [fail(check.name, `crashed: ${awsError(err)}`)]),
      timedOut,
    ]);
  } finally {
    timer.abort();
  }
}

export async function runDoctor(opts: DoctorOptions & { clock?: Clock }): Promise<CheckResult[]> {
  const clock = opts.clock ?? systemClock;
  let identity: Promise<CallerIdentity> | undefined;
  // Each check races its own deadline; the shared look-up is cancelled once every check has answered.
  const done = new AbortController();
  const ctx: Omit<CheckContext, "signal"> = {
    ...opts,
    region: regionOf(opts.env),
    identity: () => {
      identity ??= callerIdentity(opts.env, done.signal);
      return identity;
    },
  };
  try {
    const groups = await Promise.all(CHECKS.map((c) => withDeadline(c, ctx, clock)));
    return groups.flat();
  } finally {
    done.abort();
  }
}

/** One aligned line per check: `ok  `/`FAIL`/`skip`, the name padded to the longest, the detail. */
export function formatResults(results: CheckResult[]): string {
  const width = Math.max(0, ...results.map((r) => r.name.length));
  const label = { ok: "ok  ", fail: "FAIL", skip: "skip" } as const;
  return results.map((r) => `${label[r.status]}  ${r.name.padEnd(width)}  ${r.detail}\n`).join("");
}

/** ExitCode.checkFailed (4) when any check failed: the account needs a human before the first export. */
export const doctorExitCode = (results: CheckResult[]): number =>
  results.some((r) => r.status === "fail") ? ExitCode.checkFailed : ExitCode.ok;
