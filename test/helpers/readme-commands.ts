import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { DeleteObjectsCommand, paginateListObjectsV2, type S3Client } from "@aws-sdk/client-s3";

/**
 * What test/stack/readme-commands.test.ts runs: the command lines of the README's ```sh blocks, the places in the
 * code that print a `spotferry ...` hint, and a shell runner that starts each in a fresh `bash -lc` (a login shell:
 * /etc/profile resets PATH, so nothing of the test's environment leaks in but what the env argument names).
 */

export interface ReadmeLine {
  /** 1-based line number in README.md. */
  line: number;
  /** The heading of the section the block is in ("Exporting a table"). */
  section: string;
  /** The command as written, before its `#` comment. */
  command: string;
}

/** Every non-empty command line inside the README's ```sh blocks, in order. */
export function readmeCommands(text: string): ReadmeLine[] {
  const out: ReadmeLine[] = [];
  let inSh = false;
  let section = "";
  text.split("\n").forEach((raw, i) => {
    if (!inSh && /^#{2,3} /.test(raw)) section = raw.replace(/^#+ /, "");
    else if (/^```sh\s*$/.test(raw)) inSh = true;
    else if (raw.startsWith("```")) inSh = false;
    else if (inSh) {
      // A comment starts at a `#` after whitespace (no README command has a `#` of its own).
      const command = raw.replace(/(^|\s)#.*$/, "").trim();
      if (command) out.push({ line: i + 1, section, command });
    }
  });
  return out;
}

/** The CLI's commands; a `spotferry WORD` in code counts as a hint only when WORD is one of them. */
const COMMANDS = new Set(
  (
    "config init agent export controller pool rotate schedule status watch exports nodes node partition why retry cancel " +
    "drain scale logs query ddl iam deploy doctor serve local demo sim"
  ).split(" "),
);
/** Commands whose second word is a subcommand, part of the hint's key. */
const GROUPS = new Set("config agent export controller pool schedule node partition iam deploy local sim".split(" "));

export interface HintSite {
  /** Repository-relative path of the file that prints it. */
  file: string;
  line: number;
  /** "why", "export show", "controller run", ...: the command the hint names. */
  command: string;
}

const SCANNED = ["controller", "lib", "agent", "bootstrap", "sim", "config", "bin", "scripts"];

/** Every `spotferry COMMAND` in a string of the shipped or dev code (comments and tests left out). */
export function hintSites(root: string): HintSite[] {
  const out: HintSite[] = [];
  for (const file of SCANNED.flatMap((d) => sourceFiles(join(root, d)))) {
    const rel = relative(root, file);
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((raw, i) => {
        if (/^\s*(\/\/|\*|\/\*)/.test(raw)) return;
        const code = raw.replace(/\s\/\/\s.*$/, "");
        for (const m of code.matchAll(/(?<![\w./-])spotferry ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/g)) {
          const [, first, second] = m;
          if (!first || !COMMANDS.has(first)) continue;
          const command = GROUPS.has(first) && second ? `${first} ${second}` : first;
          out.push({ file: rel, line: i + 1, command });
        }
      });
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === "node_modules" || name.startsWith(".")) continue;
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|mjs)$/.test(name) && !/\.test\.ts$/.test(name)) out.push(p);
  }
  return out;
}

/** `spotferry WORD` in code that names the product or a process, not a command to run: "FILE COMMAND" -> why. */
export const NOT_HINTS: Record<string, string> = {
  "controller/cli/init-commands.ts init": "the spec's header and validation labels name what wrote it",
  "controller/cli/oncall-render.ts status": "the heading of status's own output",
  "controller/http/page.ts status": "the page's title",
  "controller/deploy/template.ts controller": "a role description",
  "controller/deploy/template.ts node": "a role description",
  "controller/deploy/template.ts deploy template": "the template's description",
  "controller/deploy/template.ts iam policy": "the template's description",
  "controller/lambda/handler.ts controller pass": "a log message",
  "controller/query/ddl.ts export": "the DDL's header comment",
  "controller/query/ddl.ts ddl": "the DDL's header comment",
  "agent/main.ts node agent": "the agent's description",
  "bootstrap/user-data.ts node bootstrap": "the user-data's header",
  "bootstrap/user-data.ts agent": "the systemd unit's description",
  "sim/ec2-api.ts sim": "an API error naming the service",
  "sim/iam/iam-api.ts sim": "an API error naming the service",
  "sim/sts.ts sim": "an API error naming the service",
  "sim/server.ts sim": "an API error naming the service",
  "sim/main.ts sim listening": "the sim's start-up line",
  "sim/main.ts sim stopping": "the sim's shut-down line",
  "sim/stack/mariadb.ts local": "a certificate subject",
  "sim/stack/mariadb.ts local mariadb": "a certificate subject",
  "sim/rehearsal/oncall-check.ts logs": "the report's label of the demo's own `logs` call",
};

/** A README line with its placeholders filled: `[...]` (optional) left out, `--config ...` the line above's flags, ID. */
export function fill(command: string, o: { id: string; lastConfig: string }): string {
  return command
    .replace(/ \[[^\]]*\]/g, "")
    .replace(/--config \.\.\./, o.lastConfig)
    .replace(/\bID\b/g, o.id);
}

export interface ShellResult {
  /** Exit code, or null when the command was stopped by the signal in `signal`. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** True when it was stopped after its first output (`untilOutput`), as intended for a loop. */
  stopped: boolean;
}

export interface ShellOptions {
  script: string;
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  /** A loop: once stdout matches, SIGTERM the process group and resolve. */
  untilOutput?: RegExp;
  /** Called with each stderr chunk as it arrives (the demo's hints are read while it runs). */
  onStderr?: (text: string) => void;
}

/** Runs `bash -lc SCRIPT` in its own process group; a timeout kills the group and is reported in stderr. */
export function runShell(o: ShellOptions): Promise<ShellResult> {
  const started = Date.now();
  const child = spawn("bash", ["-lc", o.script], { cwd: o.cwd, env: o.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let stopped = false;
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // the group has exited already
    }
  };
  const timer = setTimeout(() => {
    stderr += `\n[readme-commands: timed out after ${o.timeoutMs} ms]`;
    killGroup("SIGKILL");
  }, o.timeoutMs);
  child.stdout.on("data", (b: Buffer) => {
    stdout += b.toString();
    if (o.untilOutput && !stopped && o.untilOutput.test(stdout)) {
      stopped = true;
      killGroup("SIGTERM");
    }
  });
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
    o.onStderr?.(b.toString());
  });
  return new Promise((resolve, reject) => {
    child.on("error", (err) => reject(new Error(`starting bash -lc ${o.script}`, { cause: err })));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, stopped });
    });
  });
}

/** What must never appear on a README command's stderr: a missing environment, a refused port, a stack trace. */
export function stderrProblem(stderr: string): string | null {
  const m = /Could not load credentials|ECONNREFUSED|^\s+at .+:\d+:\d+\)?$|timed out after/m.exec(stderr);
  return m ? m[0].trim() : null;
}

/** Deletes every object under a prefix the README's commands wrote (fixed names in shared buckets). */
export async function deletePrefix(s3: S3Client, bucket: string, prefix: string): Promise<void> {
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key ?? "" }));
    if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
}
