import { readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Agents of a local run that keep failing at start (bad flags, a missing state table, DynamoDB unreachable): each
 * one's replacement fails the same way, so without a bound the run respawns them for ever. A failed start is an agent
 * that exited by itself with a non-zero code before claiming anything, read from its own log (the provider writes
 * `<instance id>.log`, ending with `agent exited: code C signal S`; the agent logs `claimed partition` at each claim,
 * agent/agent.ts). Killed agents (a signal) are not counted: that is a lost node, which provisioning replaces.
 * Progress of the export resets the count, so one bad moment in a long run does not stop it.
 */
export class StartFailures {
  private readonly o: { logDir: string; idPrefix: string; limit: number };
  private readonly classified = new Set<number>();
  private inARow = 0;
  private lastError = "";
  private mark = "";
  private died = 0;

  constructor(o: { logDir: string; idPrefix: string; limit: number }) {
    this.o = o;
  }

  /** Why the run should stop, or null; `mark` changes whenever the export progresses. */
  async check(stats: { launched: number; died: number }, mark: string): Promise<string | null> {
    if (mark !== this.mark) {
      this.mark = mark;
      this.inARow = 0;
    }
    // Logs are read only while the provider counts deaths not yet read (its exit line may still be on its way).
    if (stats.died <= this.died) return null;
    for (let n = 1; n <= stats.launched; n++) {
      if (this.classified.has(n)) continue;
      const log = await readFile(join(this.o.logDir, `${this.o.idPrefix}-${n}.log`), "utf8").catch(() => "");
      const exit = /^agent exited: code (\S+) signal (\S+)/m.exec(log);
      if (!exit) continue;
      this.classified.add(n);
      if (exit[1] !== "0") this.died++;
      // Killed by a signal (a lost node), or it had worked: not a failed start. A command that could not be
      // spawned at all ("code null signal null (error)") is one.
      if (exit[1] === "0" || exit[2] !== "null" || log.includes("claimed partition")) continue;
      this.inARow++;
      this.lastError = lastLine(log.slice(0, exit.index)) || `exit code ${exit[1]}`;
    }
    if (this.inARow < this.o.limit) return null;
    return `its agents failed to start ${this.inARow} times in a row; the last said: ${this.lastError}`;
  }
}

/** The agent's last words: its last error line ("error: ..." from the CLI, "TypeError: ..." from Node), else its last line. */
function lastLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const errors = lines.filter((l) => /^[a-z]*error\b/i.test(l));
  return (errors.at(-1) ?? lines.at(-1) ?? "").slice(0, 500);
}
