import { ExitCode, UserError } from "../../lib/errors.ts";

/** Exit code of an action refused because it is unsafe or the subject is in the wrong state: nothing was changed. */
export const REFUSED = ExitCode.refused;

/** An operator action refused (unsafe, or the subject is in the wrong state); nothing was changed. */
export class ActionRefused extends UserError {
  constructor(message: string) {
    super(`refused: ${message}; nothing was changed`, { exitCode: REFUSED });
    this.name = "ActionRefused";
  }
}

/** The subject of an action does not exist (exit 1). */
export const notFound = (what: string) => new UserError(`${what} not found`);
