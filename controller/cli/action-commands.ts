import type { Command } from "commander";
import { AGENT_LOG_COMMAND, HostKeyMismatchError, NodeSession } from "../../bootstrap/ssh.ts";
import { ec2Client } from "../../lib/aws/ec2.ts";
import { intFlag, optionalIntFlag } from "../../lib/cli/flags.ts";
import { dataFormat, emitData, outputFormat } from "../../lib/cli/output.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { Ec2Provider } from "../cloud/ec2-provider.ts";
import { type SshFlags, sshTarget } from "../oncall/ssh-target.ts";
import { applyDrain, applyScale, planDrain, planScale } from "../operator/fleet.ts";
import { applyCancel, applyRetry, planCancel, planRetry } from "../operator/jobs.ts";
import { type CommonFlags, confirm, parsePartition, withCommon, withStores } from "./oncall-shared.ts";

/**
 * Operator actions. Each says what it will do and asks (or takes --yes; without a terminal and without --yes it is
 * refused, exit 2), and refuses what is unsafe or in the wrong state with exit 5 and nothing changed. The actions
 * themselves are functions in controller/operator/ (plan, then apply); this file only parses, asks and prints.
 * `rotate` lives with the controller commands.
 */

type ActionFlags = CommonFlags & { yes?: boolean };
const operator = () => `operator:${process.env.USER ?? process.env.LOGNAME ?? "unknown"}`;
const withYes = (cmd: Command) => withCommon(cmd).option("-y, --yes", "do it without asking (required without a terminal)");
const say = (flags: CommonFlags, line: string) => (dataFormat(outputFormat(flags)) ? undefined : process.stdout.write(`${line}\n`));

export function registerActionCommands(program: Command): void {
  registerRetry(program);
  registerCancel(program);
  registerDrain(program);
  registerScale(program);
  registerLogs(program);
}

function registerRetry(program: Command): void {
  withYes(program.command("retry"))
    .argument("<id>", "export id")
    .argument("[n]", "partition number (default: every QUARANTINED partition)")
    .action((id: string, nText: string | undefined, flags: ActionFlags) => runCommand(() => retry(id, nText, flags)));
}

async function retry(id: string, nText: string | undefined, flags: ActionFlags): Promise<void> {
  const partition = nText === undefined ? undefined : parsePartition(nText);
  await withStores(flags, async (d) => {
    const plan = await planRetry(d.jobs, { exportId: id, partition });
    await confirm(plan.description, flags);
    const result = await applyRetry(d.jobs, plan, { by: operator() });
    await emitData(flags, result);
    say(flags, `export ${id}: ${result.retried.length} partition(s) back on the queue (${result.retried.join(", ")})`);
    for (const s of result.skipped) say(flags, `  skipped ${s.partition}: ${s.reason}`);
  });
}

type CancelFlags = ActionFlags & { reason?: string };

function registerCancel(program: Command): void {
  withYes(program.command("cancel"))
    .argument("<id>", "export id")
    .option("--reason <text>", "recorded on the export")
    .action((id: string, flags: CancelFlags) => runCommand(() => cancel(id, flags)));
}

function cancel(id: string, flags: CancelFlags): Promise<void> {
  return withStores(flags, async (d) => {
    const plan = await planCancel(d.jobs, { exportId: id });
    await confirm(plan.description, flags);
    const result = await applyCancel(d.jobs, plan, { reason: flags.reason ?? `by ${operator()}` });
    await emitData(flags, result);
    say(
      flags,
      `export ${id}: CANCELLED; ${result.dequeued} pending partitions taken off the queue; ${result.leased} leased partitions stop at their next chunk`,
    );
  });
}

type DrainFlags = ActionFlags & { pool?: string };

function registerDrain(program: Command): void {
  withYes(program.command("drain"))
    .argument("<node>", "instance id")
    .option("--pool <pool>", "its pool (default: searched in every pool)")
    .action((id: string, flags: DrainFlags) => runCommand(() => drain(id, flags)));
}

function drain(id: string, flags: DrainFlags): Promise<void> {
  return withStores(flags, async (d) => {
    const plan = await planDrain(d.fleet, { instanceId: id, pool: flags.pool });
    await confirm(plan.description, flags);
    const ec2 = ec2Client();
    try {
      const result = await applyDrain({ fleet: d.fleet, cloud: new Ec2Provider({ ec2 }), clock: d.clock }, plan, { by: operator() });
      if (result.warning) process.stderr.write(`warning: ${result.warning}\n`);
      const { node, pool, lifecycle, terminateRequested } = result;
      await emitData(flags, { node, pool, lifecycle, terminateRequested });
      say(flags, `node ${id}: DRAINING${result.terminateRequested ? "; termination requested" : ""}`);
    } finally {
      ec2.destroy();
    }
  });
}

type ScaleFlags = ActionFlags & { min?: string; max?: string };

function registerScale(program: Command): void {
  withYes(program.command("scale"))
    .argument("<pool>", "pool name")
    .option("--min <n>", "new minimum node count")
    .option("--max <n>", "new maximum node count")
    .action((name: string, flags: ScaleFlags) => runCommand(() => scale(name, flags)));
}

function scale(name: string, flags: ScaleFlags): Promise<void> {
  const min = optionalIntFlag("--min", flags.min, { min: 0, max: 10_000 });
  const max = optionalIntFlag("--max", flags.max, { min: 1, max: 10_000 });
  return withStores(flags, async (d) => {
    const plan = await planScale(d.fleet, { pool: name, min, max });
    await confirm(plan.description, flags);
    const result = await applyScale(d.fleet, plan);
    await emitData(flags, result);
    say(flags, `pool ${name}: min ${result.capacity.min}, max ${result.capacity.max}`);
  });
}

type LogsFlags = CommonFlags & SshFlags & { follow?: boolean; lines: string };

function registerLogs(program: Command): void {
  withCommon(program.command("logs"))
    .argument("<node>", "instance id")
    .option("-f, --follow", "keep streaming until Ctrl-C")
    .option("-n, --lines <n>", "lines of history", "200")
    .option("--host <host>", "address to connect to (default: the instance's IP, or the sim's sshd)")
    .option("--port <port>", "SSH port (default 22)")
    .option("--user <name>", "login (default ec2-user)")
    .option("--identity <file>", "private key (default $SPOTFERRY_SSH_KEY or ~/.ssh/id_ed25519)")
    .action((id: string, flags: LogsFlags) => runCommand(() => logs(id, flags)));
}

async function logs(id: string, flags: LogsFlags): Promise<void> {
  const lines = intFlag("--lines", flags.lines, { min: 0, max: 1_000_000 });
  if (flags.port !== undefined) intFlag("--port", flags.port, { min: 1, max: 65_535 });
  const session = await connectToNode(id, flags);
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  try {
    const command = AGENT_LOG_COMMAND.replaceAll("-n 200", `-n ${lines}`);
    // Without --follow the same command runs without its follow flags, so it prints and exits.
    const once = command.replaceAll(" -F ", " ").replace(" -f -n", " --no-pager -n");
    const result = await session.exec(flags.follow ? command : once, {
      signal: stop.signal,
      maxBuffer: 0,
      onData: (chunk, from) => (from === "stdout" ? process.stdout : process.stderr).write(chunk),
    });
    if (!stop.signal.aborted && result.code !== 0) throw new UserError(`reading the agent log on ${id} exited ${result.code}`);
  } finally {
    session.close();
  }
}

async function connectToNode(id: string, flags: SshFlags): Promise<NodeSession> {
  const ec2 = ec2Client();
  try {
    return await NodeSession.connect(await sshTarget(ec2, id, flags));
  } catch (err) {
    if (err instanceof HostKeyMismatchError) throw new UserError(err.message, { exitCode: ExitCode.checkFailed });
    throw err;
  } finally {
    ec2.destroy();
  }
}
