import type { Command } from "commander";
import { AGENT_LOG_COMMAND, HostKeyMismatchError, NodeSession } from "../../bootstrap/ssh.ts";
import { poolSpec } from "../../config/pool-spec.ts";
import { ec2Client } from "../../lib/aws/ec2.ts";
import { printJson, runCommand } from "../../lib/cli/run.ts";
import { isoAt } from "../../lib/clock.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { ExportStateError, PartitionStateError } from "../../lib/jobs/job-store.ts";
import { Ec2Provider } from "../cloud/ec2-provider.ts";
import { num } from "../oncall/format.ts";
import { findNode } from "../oncall/reads.ts";
import { type SshFlags, sshTarget } from "../oncall/ssh-target.ts";
import { type CommonFlags, confirm, parsePartition, refuse, withCommon, withStores } from "./oncall-shared.ts";

/**
 * Operator actions. Each says what it will do and asks (or takes --yes; without a terminal and without --yes it is
 * refused, exit 2), and refuses what is unsafe or in the wrong state with exit 5 and nothing changed. `rotate` lives
 * with the controller commands.
 */

type ActionFlags = CommonFlags & { yes?: boolean };
const operator = () => `operator:${process.env.USER ?? process.env.LOGNAME ?? "unknown"}`;
const withYes = (cmd: Command) => withCommon(cmd).option("-y, --yes", "do it without asking (required without a terminal)");
const say = (flags: CommonFlags, line: string) => (flags.json ? undefined : process.stdout.write(`${line}\n`));

export function registerActionCommands(program: Command): void {
  withYes(program.command("retry"))
    .argument("<id>", "export id")
    .argument("[n]", "partition number (default: every QUARANTINED partition)")
    .action((id: string, nText: string | undefined, flags: ActionFlags) =>
      runCommand(async () => {
        const n = nText === undefined ? undefined : parsePartition(nText);
        await withStores(flags, async (d) => {
          const exp = await d.jobs.getExport(id);
          if (!exp) throw new UserError(`export ${id} not found`);
          if (exp.state !== "RUNNING") throw refuse(`export ${id} is ${exp.state}; only a RUNNING export's partitions can be retried`);
          let targets: { partition: number; attempts: number; lastError: string | null }[];
          if (n !== undefined) {
            const p = await d.jobs.getPartition(id, n);
            if (!p) throw new UserError(`partition ${n} of export ${id} not found`);
            if (p.state !== "QUARANTINED") throw refuse(`partition ${n} of export ${id} is ${p.state}, not QUARANTINED`);
            targets = [p];
          } else {
            targets = [];
            let after: number | undefined;
            for (;;) {
              const page = await d.jobs.listPartitions(id, { state: "QUARANTINED", after, limit: 1000 });
              targets.push(...page.items);
              if (page.next === null) break;
              after = page.next;
            }
            if (!targets.length) throw refuse(`export ${id} has no QUARANTINED partitions`);
          }
          const first = targets[0];
          const what =
            targets.length === 1 && first
              ? `retry partition ${first.partition} of export ${id} (quarantined after ${first.attempts} attempts; last error: ${first.lastError ?? "none"})`
              : `retry ${targets.length} quarantined partitions of export ${id} (${targets.map((t) => t.partition).join(", ")})`;
          await confirm(what, flags);
          const retried: number[] = [];
          const skipped: { partition: number; reason: string }[] = [];
          for (const t of targets) {
            try {
              await d.jobs.retryPartition(id, t.partition, { by: operator() });
              retried.push(t.partition);
            } catch (err) {
              if (!(err instanceof PartitionStateError || err instanceof ExportStateError)) throw err;
              skipped.push({ partition: t.partition, reason: err.message });
            }
          }
          if (flags.json) printJson({ exportId: id, retried, skipped });
          say(flags, `export ${id}: ${retried.length} partition(s) back on the queue (${retried.join(", ") || "none"})`);
          for (const s of skipped) say(flags, `  skipped ${s.partition}: ${s.reason}`);
          if (!retried.length) throw refuse("every partition changed state meanwhile");
        });
      }),
    );

  withYes(program.command("cancel"))
    .argument("<id>", "export id")
    .option("--reason <text>", "recorded on the export")
    .action((id: string, flags: ActionFlags & { reason?: string }) =>
      runCommand(() =>
        withStores(flags, async (d) => {
          const exp = await d.jobs.getExport(id);
          if (!exp) throw new UserError(`export ${id} not found`);
          if (exp.state !== "RUNNING" && exp.state !== "PLANNING" && exp.state !== "CANCELLED") {
            throw refuse(`export ${id} is ${exp.state}; only a PLANNING or RUNNING export can be cancelled`);
          }
          const progress = await d.jobs.progress(id);
          const leased = progress.byState.LEASED.partitions;
          await confirm(
            exp.state === "CANCELLED"
              ? `re-run the cancel of export ${id} (already CANCELLED): take any PENDING partitions left on the queue off it`
              : `cancel export ${id} (${num(progress.total.rows)} of ${num(exp.estimatedRows)} rows done): ${progress.byState.PENDING.partitions} pending partitions leave the queue and ${leased} running ones stop at their next chunk; this cannot be undone`,
            flags,
          );
          let result: Awaited<ReturnType<typeof d.jobs.cancelExport>>;
          try {
            result = await d.jobs.cancelExport(id, { reason: flags.reason ?? `by ${operator()}` });
          } catch (err) {
            if (err instanceof ExportStateError) throw refuse(err.message);
            throw err;
          }
          if (flags.json) printJson({ exportId: id, state: result.export.state, dequeued: result.dequeued, leased });
          say(
            flags,
            `export ${id}: CANCELLED; ${result.dequeued} pending partitions taken off the queue; ${leased} leased partitions stop at their next chunk`,
          );
        }),
      ),
    );

  withYes(program.command("drain"))
    .argument("<node>", "instance id")
    .option("--pool <pool>", "its pool (default: searched in every pool)")
    .action((id: string, flags: ActionFlags & { pool?: string }) =>
      runCommand(() =>
        withStores(flags, async (d) => {
          const node = await findNode(d.fleet, id, flags.pool);
          if (!node) throw new UserError(`node ${id} not found`);
          if (node.lifecycle !== "READY" && node.lifecycle !== "LAUNCHING")
            throw refuse(`node ${id} is ${node.lifecycle}; only a LAUNCHING or READY node can be drained`);
          await confirm(
            `drain node ${id} (${node.instanceType}, pool ${node.pool}${node.currentPartition ? `, working on ${node.currentPartition}` : ""}): its agent commits the current chunk and releases, the instance is terminated and the controller launches a replacement if work remains`,
            flags,
          );
          // Marked first, terminated second: a controller pass in between then sees a drain, not an interruption.
          const marked = await d.fleet.updateNode(node.pool, id, node.version, {
            lifecycle: "DRAINING",
            drainingAt: isoAt(d.clock),
            reason: `drained by ${operator()}`,
          });
          if (!marked) throw refuse(`node ${id} changed while this command ran; look again with \`spotferry node show ${id}\``);
          const ec2 = ec2Client();
          let terminated = true;
          try {
            await new Ec2Provider({ ec2 }).terminate([id]);
          } catch (err) {
            // The node is DRAINING either way; the draining reconciler terminates it once it holds nothing.
            terminated = false;
            process.stderr.write(`warning: terminating ${id} failed (${(err as Error).message}); the controller will terminate it\n`);
          } finally {
            ec2.destroy();
          }
          if (flags.json) printJson({ node: id, pool: node.pool, lifecycle: "DRAINING", terminateRequested: terminated });
          say(flags, `node ${id}: DRAINING${terminated ? "; termination requested" : ""}`);
        }),
      ),
    );

  withYes(program.command("scale"))
    .argument("<pool>", "pool name")
    .option("--min <n>", "new minimum node count")
    .option("--max <n>", "new maximum node count")
    .action((name: string, flags: ActionFlags & { min?: string; max?: string }) =>
      runCommand(() =>
        withStores(flags, async (d) => {
          if (flags.min === undefined && flags.max === undefined)
            throw new UserError("give --min, --max or both", { exitCode: ExitCode.usage });
          const pool = await d.fleet.getPool(name);
          if (!pool) throw new UserError(`pool ${name} not found`);
          const capacity = {
            ...pool.spec.capacity,
            ...(flags.min !== undefined ? { min: Number(flags.min) } : {}),
            ...(flags.max !== undefined ? { max: Number(flags.max) } : {}),
          };
          const parsed = poolSpec.safeParse({ ...pool.spec, capacity });
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            throw new UserError(`scale ${name}: ${issue?.path.join(".")}: ${issue?.message}`, { exitCode: ExitCode.usage });
          }
          const live = (await d.fleet.listNodes(name)).filter((n) => n.lifecycle === "READY" || n.lifecycle === "LAUNCHING").length;
          const before = pool.spec.capacity;
          await confirm(
            `scale pool ${name} from min ${before.min} / max ${before.max} to min ${capacity.min} / max ${capacity.max} (${live} live nodes${live > capacity.max ? `; ${live - capacity.max} idle ones will be drained` : ""})`,
            flags,
          );
          const updated = await d.fleet.updatePool(name, pool.version, { spec: parsed.data });
          if (!updated) throw refuse(`pool ${name} changed while this command ran; run it again`);
          if (flags.json) printJson({ pool: name, capacity: updated.spec.capacity });
          say(flags, `pool ${name}: min ${capacity.min}, max ${capacity.max}`);
        }),
      ),
    );

  withCommon(program.command("logs"))
    .argument("<node>", "instance id")
    .option("-f, --follow", "keep streaming until Ctrl-C")
    .option("-n, --lines <n>", "lines of history", "200")
    .option("--host <host>", "address to connect to (default: the instance's IP, or the sim's sshd)")
    .option("--port <port>", "SSH port (default 22)")
    .option("--user <name>", "login (default ec2-user)")
    .option("--identity <file>", "private key (default $SPOTFERRY_SSH_KEY or ~/.ssh/id_ed25519)")
    .action((id: string, flags: CommonFlags & SshFlags & { follow?: boolean; lines: string }) =>
      runCommand(async () => {
        const lines = Number(flags.lines);
        if (!Number.isInteger(lines) || lines < 0)
          throw new UserError(`--lines: expected a whole number, got "${flags.lines}"`, { exitCode: ExitCode.usage });
        const ec2 = ec2Client();
        let session: NodeSession;
        try {
          session = await NodeSession.connect(await sshTarget(ec2, id, flags));
        } catch (err) {
          if (err instanceof HostKeyMismatchError) throw new UserError(err.message, { exitCode: ExitCode.checkFailed });
          throw err;
        } finally {
          ec2.destroy();
        }
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
      }),
    );
}
