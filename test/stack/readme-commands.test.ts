import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { s3Client } from "../../lib/aws/s3.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { deleteStateTable } from "../../lib/dynamo/table.ts";
import { repoRoot } from "../../lib/paths.ts";
import { requireEnv, uniqueName } from "../helpers/env.ts";
import {
  deletePrefix,
  fill,
  hintSites,
  NOT_HINTS,
  type ReadmeLine,
  readmeCommands,
  runShell,
  type ShellResult,
  stderrProblem,
} from "../helpers/readme-commands.ts";

/**
 * Issue 17: every command line of the README's ```sh blocks runs as written after `npm run demo`, and so does every
 * "next step" hint the CLI prints. Each runs in a fresh `bash -lc` (a login shell: PATH is /etc/profile's, nothing
 * sourced) from a scratch view of the checkout (symlinks to .spotferry, bin, config, dist, node_modules, scripts and
 * package.json: relative paths resolve as in the repo root, while the files the commands write, export.yaml and
 * spotferry.yaml, stay out of the shared working tree).
 *
 * README lines run in order as one reader's terminal: the "Exporting a table" block starts with `source
 * .spotferry/local.env` (in a new shell), so every later line runs as `source .spotferry/local.env && LINE`. The one
 * variable the test sets is SPOTFERRY_STATE_TABLE (a table of its own, as a reader who sets it has), so the README's
 * exports neither read nor write the default `spotferry` table. Hints printed by the demo say "from another
 * terminal" / "in a new shell" and run exactly as printed with nothing sourced; the others run in the reader's
 * terminal. Placeholders, filled from earlier output:
 *   ID            the id `export plan --config export.yaml` printed (`export ID: created ...`)
 *   --config ...  the --config flags of the line above;  [--account ID]  optional, left out
 *   N             partition 0;  NODE  a node of the README export (`nodes --all -o json`);  FILE  export.yaml
 *   `spotferry X` a hint naming the CLI runs as printed: local.env puts a `spotferry` of this checkout first on PATH
 * Loops (`schedule run` without --once, `status -w`) run until their first output, then get SIGTERM.
 * Pass: the documented exit code (0 unless stated) and a stderr without "Could not load credentials",
 * ECONNREFUSED or a stack trace.
 */

const ROWS = 6000;
const DEMO = `npm run demo -- --rows ${ROWS} --nodes 2 --max-rows-per-second 150`;
interface Plan {
  skip?: string;
  /** The line as run, when it differs from the README's (placeholders are filled either way). */
  as?: string;
  exit?: number[];
  loop?: RegExp;
  /** Consecutive lines of the same group only read, and run at the same time. */
  group?: string;
  /** What its output (stdout, then stderr) must show. */
  shows?: RegExp;
}

/** Every README ```sh line, exactly as written; a line added, changed or removed fails the test until listed here. */
const README: Record<string, Plan> = {
  "npm run demo": { as: DEMO },
  "npm test": { skip: "runs the whole suite, this file included" },
  "source .spotferry/local.env": {},
  "npx spotferry init --table spotferry_demo.call_log -f export.yaml": {},
  "npx spotferry config check export.yaml": { shows: /valid Export/ },
  "npx spotferry export plan --config export.yaml": { shows: /^export \S+: created with \d+ partitions/m },
  "npx spotferry export run --config export.yaml --local --workers 4 --create-bucket": {},
  "npx spotferry export show ID": { group: "reads", shows: /DONE/ },
  "npx spotferry export verify ID --config export.yaml": { group: "reads", shows: /0 missing, 0 duplicated/ },
  "npx spotferry export verify ID --config export.yaml --rows": { group: "reads", shows: /0 missing, 0 duplicated/ },
  'npx spotferry query ID "SELECT count(*) FROM export"': { group: "reads", shows: new RegExp(`^\\s*${ROWS}\\s*$`, "m") },
  'npx spotferry query ID "SELECT * FROM export ORDER BY 1 LIMIT 5" --json': { group: "reads", shows: /"id": 1,/ },
  "npx spotferry ddl ID --engine athena": { group: "reads", shows: /CREATE EXTERNAL TABLE call_log/ },
  "npx spotferry schedule run --config config/examples/call-log-incremental.yaml --local --create-bucket": {
    loop: new RegExp(`^call-log-5m: committed: run 1: ${ROWS} rows`, "m"),
  },
  "npx spotferry schedule run --config ... --once": { shows: /^call-log-5m: no-new-rows: /m },
  "npx spotferry schedule status --name call-log-5m": { group: "schedule-read", shows: /COMMITTED/ },
  "npx spotferry schedule verify call-log-5m --config config/examples/call-log-incremental.yaml": {
    group: "schedule-read",
    shows: /EQUAL/,
  },
  "npx spotferry iam policy controller --config config/examples/controller.yaml --config config/examples/spot-pool.yaml --config export.yaml [--account ID]":
    { group: "iam", shows: /"Sid": "StateTable"/ },
  "npx spotferry iam policy node --config ...": { group: "iam", shows: /"Statement"/ },
  "npx spotferry deploy template --config config/examples/controller.yaml --config config/examples/spot-pool.yaml --config export.yaml > spotferry.yaml":
    {},
  "aws cloudformation deploy --template-file spotferry.yaml --stack-name spotferry --capabilities CAPABILITY_NAMED_IAM": {
    skip: "creates the stack in a real AWS account (no CloudFormation locally, and no aws CLI here)",
  },
  "npx spotferry doctor --config config/examples/controller.yaml --config config/examples/spot-pool.yaml --config export.yaml": {
    skip: "checks the real account the line above deploys into (roles, table, buckets); test/stack/doctor.test.ts runs it on the sim",
  },
};

interface HintRun extends Plan {
  label: string;
  /** What it needs first: the README's export (ID, NODE), its schedule, or nothing but the stack. */
  after: "export" | "schedule" | "stack";
  /** The command in the reader's terminal (local.env sourced); demo hints are run as printed, elsewhere. */
  script: (p: Placeholders) => string;
}
interface Hint {
  /** Files that print it (a `spotferry COMMAND` in a string). */
  sites: string[];
  runs?: HintRun[];
  skip?: string;
}
interface Placeholders {
  id: string;
  node: string;
  /** Hints as the README's commands printed them: init's "run it:", the spec's "Check it:" / "run it here:". */
  printed: Record<string, string>;
}

const asPrinted = (cmd: string) => ({ script: () => `spotferry ${cmd}` });
const printed = (label: string) => ({ label, script: (p: Placeholders) => p.printed[label] ?? `false # ${label} was not printed` });
/** Every hint the code prints, by the command it names; a new one fails the test until it is listed here. */
const HINTS: Record<string, Hint> = {
  status: {
    sites: ["sim/cli/demo-commands.ts", "controller/query/resolve.ts"],
    // The demo's "watch it from another terminal" line runs while the demo does (see the test).
    runs: [{ label: "status -w (query on a RUNNING export)", after: "export", ...asPrinted("status -w"), loop: /EXPORTS/ }],
  },
  "export show": {
    sites: [
      "sim/cli/demo-commands.ts",
      "controller/local/local-fleet.ts",
      "controller/oncall/attention.ts",
      "controller/http/export-section.ts",
    ],
    runs: [
      {
        label: "export show ID --state QUARANTINED",
        after: "export",
        script: (p) => `npx spotferry export show ${p.id} --state QUARANTINED`,
      },
      { label: "export show ID", after: "export", script: (p) => `npx spotferry export show ${p.id}`, shows: /DONE/ },
    ],
  },
  "local down": { sites: ["sim/cli/demo-commands.ts"], skip: "stops the shared local stack" },
  "local up": {
    sites: ["sim/rehearsal/setup.ts", "sim/stack/stack.ts"],
    runs: [{ label: "local up", after: "stack", ...asPrinted("local up") }],
  },
  "sim up": { sites: ["sim/daemon.ts"], runs: [{ label: "sim up", after: "stack", ...asPrinted("sim up"), shows: /already running/ }] },
  "export run": {
    sites: ["controller/cli/init-commands.ts"],
    runs: [
      { ...printed("init: run it"), after: "export", shows: /already succeeded/ },
      { ...printed("spec: run it here"), after: "export", shows: /already succeeded/ },
    ],
  },
  "config check": {
    sites: ["controller/cli/init-commands.ts"],
    runs: [{ ...printed("spec: Check it"), after: "stack", shows: /valid Export/ }],
  },
  why: {
    sites: ["controller/oncall/attention.ts", "controller/oncall/partitions.ts", "controller/http/export-section.ts"],
    runs: [
      { label: "why ID", after: "export", script: (p) => `npx spotferry why ${p.id}` },
      { label: "why ID N", after: "export", script: (p) => `npx spotferry why ${p.id} 0` },
    ],
  },
  // Actions: the README export is SUCCEEDED and its node TERMINATED, so both refuse (exit 5) as On call documents.
  retry: {
    sites: ["controller/oncall/partitions.ts", "controller/oncall/why.ts"],
    runs: [{ label: "retry ID N", after: "export", script: (p) => `npx spotferry retry ${p.id} 0`, exit: [5] }],
  },
  drain: {
    sites: ["controller/http/nodes-section.ts"],
    runs: [{ label: "drain NODE", after: "export", script: (p) => `npx spotferry drain ${p.node}`, exit: [5] }],
  },
  "node show": {
    sites: ["controller/oncall/attention.ts", "controller/http/nodes-section.ts", "controller/operator/fleet.ts"],
    runs: [{ label: "node show NODE", after: "export", script: (p) => `npx spotferry node show ${p.node}`, shows: /TERMINATED/ }],
  },
  "schedule status": {
    sites: ["controller/oncall/attention.ts"],
    runs: [{ label: "schedule status --name NAME", after: "schedule", ...asPrinted("schedule status --name call-log-5m") }],
  },
  logs: {
    sites: ["controller/oncall/why.ts"],
    skip: "needs a live node over ssh (the demo's nodes stop with it); the demo runs `spotferry logs` on one, asserted below",
  },
  "controller run": {
    sites: [
      "controller/oncall/attention.ts",
      "controller/oncall/why.ts",
      "controller/http/page.ts",
      "controller/cli/export-run-commands.ts",
    ],
    skip: "names the operator's ControllerSettings file (`--config controller.yaml`, config/examples/controller.yaml), which a fleet needs and the local stack does not have",
  },
  "pool apply": {
    sites: ["controller/estimate/estimate.ts", "controller/oncall/why.ts"],
    skip: "names the command, not a line: the pool file is the operator's",
  },
  "iam policy": {
    sites: ["controller/doctor/policy-checks.ts", "controller/doctor/secret-checks.ts"],
    skip: "names the command, not a line: the README's IAM lines run it with the config files",
  },
};

const dir = join(tmpdir(), uniqueName("readme-commands"));
const stateTable = uniqueName("readme");
// All a fresh terminal has (bash -l sets PATH again from /etc/profile), and the reader's own state table.
const sh = { HOME: process.env.HOME ?? "/root", PATH: "/usr/local/bin:/usr/bin:/bin", SPOTFERRY_STATE_TABLE: stateTable };
const ran: { label: string; ms: number }[] = [];
const skipped = new Map<string, string>();
const cleanup: { stateTables: string[]; prefixes: { bucket: string; prefix: string }[] } = { stateTables: [stateTable], prefixes: [] };

after(async () => {
  const ddb = dynamoClient();
  const s3 = s3Client();
  await Promise.all([
    ...cleanup.stateTables.map((t) => deleteStateTable(ddb, t).catch(() => {})),
    ...cleanup.prefixes.map((p) => deletePrefix(s3, p.bucket, p.prefix).catch(() => {})),
  ]);
  ddb.destroy();
  s3.destroy();
  rmSync(dir, { recursive: true, force: true });
  const total = ran.reduce((n, r) => n + r.ms, 0);
  console.log(
    `ran ${ran.length} commands (${(total / 1000).toFixed(1)} s): ${ran.map((r) => `${r.label} ${(r.ms / 1000).toFixed(1)}s`).join("; ")}`,
  );
  console.log(`skipped ${skipped.size}: ${[...skipped].map(([k, v]) => `${k} (${v})`).join("; ")}`);
});

/** Runs one line; asserts its exit code, its output and a clean stderr. `newShell`: as printed, nothing sourced. */
async function run(label: string, cmd: string, plan: Plan, newShell = false): Promise<ShellResult> {
  const script = newShell ? cmd : `source .spotferry/local.env && ${cmd}`;
  const r = await runShell({ script, cwd: dir, env: sh, timeoutMs: 240_000, ...(plan.loop ? { untilOutput: plan.loop } : {}) });
  ran.push({ label, ms: r.ms });
  const what = `${label}: \`${script}\`\nexit ${r.code ?? r.signal}\nstdout: ${r.stdout.slice(-1500)}\nstderr: ${r.stderr.slice(-1500)}`;
  if (plan.loop) assert.ok(r.stopped, `a loop prints its first line: ${what}`);
  else assert.ok((plan.exit ?? [0]).includes(r.code ?? -1), `documented exit code: ${what}`);
  assert.equal(stderrProblem(r.stderr), null, `clean stderr: ${what}`);
  if (plan.shows) assert.match(`${r.stdout}\n${r.stderr}`, plan.shows, what);
  return r;
}

/** The README's sections whose lines run side by side, each in order, once `init` has written export.yaml. */
const LANES: Record<string, "export" | "schedule" | "stack"> = {
  "Exporting a table": "export",
  "Reading an export": "export",
  "Incremental schedules": "schedule",
  IAM: "stack",
  "Deploying on AWS": "stack",
};

/** The reader's terminal: runs README lines in order (a group's lines at once), collecting what later lines need. */
class Session {
  id = "ID";
  outputs = "";
  printed: Record<string, string> = {};

  /** Lines in order; `--config ...` takes the flags of the line above in the same call (lanes run side by side). */
  async lines(lines: ReadmeLine[]): Promise<void> {
    const above = { config: "" };
    for (let i = 0; i < lines.length; ) {
      const group = README[lines[i]?.command ?? ""]?.group;
      let n = 1;
      while (group && README[lines[i + n]?.command ?? ""]?.group === group) n++;
      await Promise.all(lines.slice(i, i + n).map((l) => this.line(l, above)));
      i += n;
    }
  }

  private async line(l: ReadmeLine, above: { config: string }): Promise<void> {
    const plan = README[l.command] as Plan;
    if (plan.skip) {
      skipped.set(`README ${l.command}`, plan.skip);
      return;
    }
    // Filled before anything is awaited: the next line of a group takes this one's --config flags.
    const cmd = fill(plan.as ?? l.command, { id: this.id, lastConfig: above.config });
    above.config = (/(--config \S+ ?)+/.exec(cmd)?.[0] ?? above.config).trim();
    const r = await run(`README:${l.line}`, cmd, plan);
    this.outputs += r.stdout;
    const planned = /^export (\S+): created/m.exec(r.stdout)?.[1];
    if (planned) this.id = planned;
    const runIt = /; run it: (.+)$/m.exec(r.stderr)?.[1];
    if (runIt) this.printed["init: run it"] = runIt;
  }

  async hints(after: HintRun["after"], p: Omit<Placeholders, "printed">): Promise<void> {
    const runs = Object.values(HINTS).flatMap((h) => (h.runs ?? []).filter((r) => r.after === after));
    const all = { ...p, printed: this.printed };
    // Three at a time: each is a CLI start-up on a 2-core machine.
    for (let i = 0; i < runs.length; i += 3) await Promise.all(runs.slice(i, i + 3).map((r) => run(`hint: ${r.label}`, r.script(all), r)));
  }
}

test("every README command and every CLI hint runs as written after the demo", { timeout: 900_000 }, async () => {
  requireEnv("AWS_ENDPOINT_URL_DYNAMODB");
  mkdirSync(dir, { recursive: true });
  for (const f of [".spotferry", "bin", "config", "dist", "node_modules", "scripts", "package.json"])
    symlinkSync(join(repoRoot, f), join(dir, f));

  // What the code prints and what this file lists must be the same set; so must the README's lines.
  const found = [...new Set(hintSites(repoRoot).map((s) => `${s.file} ${s.command}`))].sort();
  const listed = [...Object.entries(HINTS).flatMap(([cmd, h]) => h.sites.map((f) => `${f} ${cmd}`)), ...Object.keys(NOT_HINTS)].sort();
  assert.deepEqual(found, listed, "every `spotferry COMMAND` hint in the code is listed in HINTS (or NOT_HINTS), and only those");
  const lines = readmeCommands(readFileSync(join(repoRoot, "README.md"), "utf8"));
  assert.deepEqual(lines.map((l) => l.command).sort(), Object.keys(README).sort(), "every README ```sh line is listed in README");
  const sections = new Set(lines.map((l) => l.section));
  sections.delete("Quick start");
  assert.deepEqual([...sections].sort(), Object.keys(LANES).sort(), "every README section with commands has a lane");

  await demo();

  const session = new Session();
  await session.lines(lines.filter((l) => l.section === "Quick start" && l.command !== "npm run demo"));
  const exporting = lines.filter((l) => LANES[l.section] === "export");
  const init = exporting.findIndex((l) => l.command.includes(" init "));
  await session.lines(exporting.slice(0, init + 1));
  // The spec init wrote names its own next steps in its header: "# Check it: CMD; run it here: CMD".
  const header = /^# Check it: (.+); run it here: (.+)$/m.exec(readFileSync(join(dir, "export.yaml"), "utf8"));
  assert.ok(header, "export.yaml's header names its next steps");
  session.printed["spec: Check it"] = (header[1] as string).replace("FILE", "export.yaml");
  session.printed["spec: run it here"] = (header[2] as string).replace("FILE", "export.yaml");
  assert.ok(session.printed["init: run it"], "init printed its next step");

  const lane = (name: "export" | "schedule" | "stack") => lines.filter((l) => LANES[l.section] === name);
  await Promise.all([
    (async () => {
      await session.lines(exporting.slice(init + 1));
      assert.notEqual(session.id, "ID", "export plan printed the export's id");
      const nodes = await run("placeholder: nodes --all -o json", "npx spotferry nodes --all -o json", {});
      const node = (JSON.parse(nodes.stdout) as { instanceId: string; pool: string }[]).find((n) => n.pool === "local-default");
      assert.ok(node, `a node of the README export: ${nodes.stdout.slice(0, 500)}`);
      await session.hints("export", { id: session.id, node: node.instanceId });
    })(),
    (async () => {
      await session.lines(lane("schedule"));
      await session.hints("schedule", { id: "", node: "" });
    })(),
    (async () => {
      await session.lines(lane("stack"));
      await session.hints("stack", { id: "", node: "" });
    })(),
  ]);

  // What the README's commands wrote under their fixed names: the export, the schedule's run(s), both pointers.
  const runDirs = new Set(session.outputs.match(/run=\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d/g) ?? []);
  cleanup.prefixes.push(
    { bucket: "spotferry-exports", prefix: `call-log/${session.id}/` },
    { bucket: "spotferry-exports", prefix: "call-log/call-log/_latest.json" },
    { bucket: "analytics-exports", prefix: "lake/call-log-5m/_latest.json" },
    ...[...runDirs].map((d) => ({ bucket: "analytics-exports", prefix: `lake/call-log-5m/${d}/` })),
  );
  for (const [cmd, h] of Object.entries(HINTS)) if (h.skip) skipped.set(`hint ${cmd}`, h.skip);
  const expectedSkips = [
    ...Object.entries(README).flatMap(([k, v]) => (v.skip ? [`README ${k}`] : [])),
    ...Object.entries(HINTS).flatMap(([k, v]) => (v.skip ? [`hint ${k}`] : [])),
  ].sort();
  assert.deepEqual([...skipped.keys()].sort(), expectedSkips, "exactly the listed commands were skipped");
});

/** `npm run demo` with its smallest options; its "watch it from another terminal" hint runs while it runs, its
 * closing "inspect it" hint after it, both as printed in a new shell. */
async function demo(): Promise<void> {
  let watch: Promise<ShellResult> | undefined;
  let err = "";
  const d = await runShell({
    script: DEMO,
    cwd: dir,
    env: sh,
    timeoutMs: 600_000,
    onStderr: (text) => {
      err += text;
      const hint = /^watch it from another terminal: (.+)$/m.exec(err)?.[1];
      if (hint && !watch && /RUNNING \d+%/.test(err)) {
        watch = run("demo: watch it", hint, { loop: /EXPORTS/ }, true);
        watch.catch(() => {}); // awaited (and its failure reported) once the demo is done
      }
    },
  });
  ran.push({ label: "npm run demo (smallest options)", ms: d.ms });
  const stamp = /spotferry-demo-(\d{14})/.exec(d.stderr)?.[1];
  const demoId = /^rehearsal \w+.*: export (\S+)$/m.exec(d.stdout)?.[1];
  if (stamp) cleanup.stateTables.push(`spotferry-demo-${stamp}`);
  if (demoId) cleanup.prefixes.push({ bucket: "spotferry-demo", prefix: `call-log/${demoId}/` });
  assert.equal(d.code, 0, `the demo passes: exit ${d.code}\n${d.stdout}\n${d.stderr.slice(-3000)}`);
  assert.equal(stderrProblem(d.stderr), null, "the demo's stderr is clean");
  assert.match(d.stdout, /on call\s+ok\s+spotferry logs /, "the demo ran `spotferry logs` on a live node");
  assert.ok(watch, "the demo printed its watch hint before its progress");
  await watch;
  const inspect = /^inspect it: (.+?) {2}\(the stack stays up; (.+) stops it\)$/m.exec(d.stderr);
  assert.ok(inspect?.[1], `the demo's closing hint: ${d.stderr.slice(-500)}`);
  await run("demo: inspect it", inspect[1], { shows: /DONE/ }, true);
  assert.equal(inspect[2], "npx spotferry local down", "the one demo hint not run (it stops the shared stack)");
}
