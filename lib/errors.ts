/** An error the CLI reports as one line and a specific exit code, without a stack trace. */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, options?: { exitCode?: number; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = "UserError";
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** Exit codes scripts can rely on (README: "On call" and "Development" list them; keep the three in step). */
export const ExitCode = {
  ok: 0,
  /** Failed, or not found. */
  failure: 1,
  /** Bad input: flags, config, usage; an action without --yes and no terminal to confirm on. */
  usage: 2,
  /**
   * A required service, tool or setting is missing or unreachable: the state table, AWS credentials, an endpoint that
   * refuses or times out (DynamoDB, S3, MySQL). The message says what was missing.
   */
  unavailable: 3,
  /** The check ran and found a problem (verify mismatches, unhealthy stack; `status`/`why`: something needs a human). */
  checkFailed: 4,
  /** An operator action refused as unsafe or in the wrong state; nothing was changed (controller/operator/refusal.ts). */
  refused: 5,
} as const;

/** Wraps `cause` with what was being done: `new Error("claiming partition 42 of export e-7", { cause })`. */
export function doing(what: string, cause: unknown): Error {
  return new Error(what, { cause });
}

/** "a: b: c" from an error and its causes, for one-line reports. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 6; depth++) {
    if (e instanceof Error) {
      if (e.message && !parts.includes(e.message)) parts.push(e.message);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(": ");
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Why `err` means a service or setting is missing (exit 3), or null: no AWS credentials anywhere in the SDK's chain,
 * or a network failure to reach an endpoint (refused, unresolvable, timed out), anywhere in its causes.
 */
export function unavailableReason(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e && depth < 8; depth++) {
    const x = e as { name?: string; code?: string; errors?: unknown[]; cause?: unknown };
    if (x.name === "CredentialsProviderError") {
      return "no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile, or run on a role; locally: source .spotferry/local.env)";
    }
    const code = x.code ?? (x.errors?.[0] as { code?: string } | undefined)?.code;
    if (code && NETWORK_CODES.has(code)) return `a service is unreachable (${code}): check the endpoint and that the service is up`;
    if (x.name === "TimeoutError") return "a service did not answer in time: check the endpoint and that the service is up";
    e = x.cause;
  }
  return null;
}
