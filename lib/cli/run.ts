import { ConfigError } from "../../config/config-error.ts";
import { describeError, ExitCode, UserError, unavailableReason } from "../errors.ts";

/**
 * Runs a command body (which may return an exit code) and turns failures into one clear message and an exit code: 2 for bad input (config, usage),
 * the UserError's own code for known conditions, 3 for missing AWS credentials or an unreachable service (lib/errors.ts
 * unavailableReason), 1 otherwise. Stacks are printed only with SPOTFERRY_DEBUG=1.
 */
export async function runCommand(body: () => Promise<unknown>): Promise<never> {
  quietOnClosedPipe();
  let code: number;
  try {
    const result = await body();
    code = typeof result === "number" ? result : ExitCode.ok;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`error: ${err.message}\n`);
      code = ExitCode.usage;
    } else if (err instanceof UserError) {
      process.stderr.write(`error: ${describeError(err)}\n`);
      code = err.exitCode;
    } else if (unavailableReason(err)) {
      process.stderr.write(`error: ${describeError(err)}\n  ${unavailableReason(err)}\n`);
      code = ExitCode.unavailable;
    } else {
      process.stderr.write(`error: ${describeError(err)}\n`);
      if (process.env.SPOTFERRY_DEBUG === "1" && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      code = ExitCode.failure;
    }
  }
  // Let stdout drain before exiting so piped output is never truncated.
  await new Promise<void>((resolve) => (process.stdout.write("") ? resolve() : process.stdout.once("drain", resolve)));
  process.exit(code);
}

/**
 * `spotferry status -w | head`: the reader closing the pipe is the end of the output, not an error, so the command
 * ends (exit 0) instead of dying on EPIPE with a stack trace.
 */
function quietOnClosedPipe(): void {
  if (process.stdout.listenerCount("error") > 0) return;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(ExitCode.ok);
    throw err;
  });
}

/** Prints rows as JSON when asked; BigInt values (exact keys) become strings. The text of `-o json` (lib/cli/output.ts). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`);
}
