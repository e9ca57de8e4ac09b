/** An error the CLI reports as one line and a specific exit code, without a stack trace. */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, options?: { exitCode?: number; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = "UserError";
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** Exit codes scripts can rely on. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** A required service or tool is missing; the message says how to get it. */
  unavailable: 3,
  /** The check ran and found a problem (verify mismatches, unhealthy stack). */
  checkFailed: 4,
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
