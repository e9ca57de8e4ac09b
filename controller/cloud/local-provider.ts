import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { AGENT_NODE_FLAGS, AGENT_PROCESS_ENV } from "../../config/settings.ts";
import type { Clock } from "../../lib/clock.ts";
import type {
  CloudInstance,
  CloudProvider,
  InstanceState,
  LaunchedInstance,
  LaunchRequest,
  LaunchResult,
  LaunchTemplateInput,
  LaunchTemplateRef,
  Market,
  SpotPrice,
} from "./cloud-provider.ts";
import { TAG_EXPORT, TAG_GENERATION, TAG_POOL } from "./cloud-provider.ts";

/**
 * CloudProvider whose instances are agent processes on this machine (`export run --local`, the scheduler's local
 * mode), so the same reconcilers that run a fleet run a local export. An instance is one `spotferry agent run`
 * process: running once spawned, shutting-down from the SIGTERM of `terminate` (the agent drains: it commits its
 * chunk and releases) until it exits, terminated after. The state reason says how it ended, in EC2's words where
 * they fit: our terminate is Client.UserInitiatedShutdown, an exit of its own with code 0 is
 * Client.InstanceInitiatedShutdown, any other exit or signal (SIGKILL above all) is Server.InternalError, a host that
 * died, with the code or signal after a colon, as EC2 words a StateReason message. Never Server.SpotInstanceTermination: nothing here is reclaimed by a
 * market, so the interruption reconciler never marks local capacity short.
 *
 * What a machine has no notion of: prices are 0 (spot and on-demand; cost read-outs show $0 for local nodes), there
 * is one zone, "local", for every subnet, instance types are labels, and launch templates are kept in memory only
 * (their user-data is never run: the command line comes from the options), so launch accepts any template reference. Tags and launch history live in memory
 * too, so a new provider (a new `export run`) knows none of an earlier one's processes; the interruption reconciler
 * treats those as vanished.
 */
export interface LocalCloudProviderOptions {
  clock: Clock;
  /** Argv that starts the CLI, e.g. [process.execPath, "bin/spotferry.mjs"]; `agent run <flags>` is appended. */
  agentCommand: string[];
  stateTable: string;
  /** Partition lease of the agents; they heartbeat at a quarter of it. */
  leaseSeconds: number;
  /** One `<instance id>.log` per process (stdout and stderr, then how it exited). */
  logDir: string;
  env?: NodeJS.ProcessEnv;
  /**
   * The claim pool an instance's agent is given (`--pool`), from the pool it was launched for. The claim queue is keyed
   * on the export spec's pool, which a local pool record must not be named after (it would be a real pool's).
   */
  claimPool?: (pool: string) => string;
  /** Flags appended after the generated ones (e.g. `--idle-exit 30s`). */
  extraAgentFlags?: string[];
  /** SIGTERM to SIGKILL, for an agent that does not drain (default 30 s, the old local runner's). */
  terminateGraceMs?: number;
  /** Exited processes stay visible this long, as EC2 shows terminated instances for about an hour (default 1 h). */
  retentionMs?: number;
  /** Instance ids are `<idPrefix>-<n>`; the default is random per provider, so two runs never reuse a node record. */
  idPrefix?: string;
}

const USER_SHUTDOWN = "Client.UserInitiatedShutdown";
const INSTANCE_SHUTDOWN = "Client.InstanceInitiatedShutdown";
const HOST_DIED = "Server.InternalError";

interface LocalInstance extends LaunchedInstance {
  launchedAt: number;
  tags: Record<string, string>;
  child: ChildProcess;
  log: WriteStream;
  spawned: boolean;
  /** When terminate() first asked it to stop. */
  stopRequestedAt: number | null;
  exitedAt: number | null;
  exit: { code: number | null; signal: NodeJS.Signals | null; error?: string } | null;
  /** Cancels the SIGKILL escalation once the process is gone. */
  escalation: AbortController | null;
  exited: Promise<void>;
}

type Template = { id: string; name: string; versions: { digest: string; data: LaunchTemplateInput }[] };

const digestOf = (d: LaunchTemplateInput) => createHash("sha256").update(JSON.stringify(d)).digest("hex");

export class LocalCloudProvider implements CloudProvider {
  private readonly o: LocalCloudProviderOptions;
  private readonly instances = new Map<string, LocalInstance>();
  private readonly templates = new Map<string, Template>();
  /** Every instance id this provider gives is `<idPrefix>-<n>`. */
  readonly idPrefix: string;
  private seq = 0;
  private died = 0;

  constructor(options: LocalCloudProviderOptions) {
    this.o = options;
    this.idPrefix = options.idPrefix ?? `local-${randomBytes(3).toString("hex")}`;
    mkdirSync(options.logDir, { recursive: true });
  }

  async ensureLaunchTemplate(name: string, data: LaunchTemplateInput): Promise<LaunchTemplateRef> {
    let t = this.templates.get(name);
    if (!t) {
      t = { id: `lt-${this.idPrefix}-${this.templates.size + 1}`, name, versions: [] };
      this.templates.set(name, t);
    }
    const digest = digestOf(data);
    if (t.versions.at(-1)?.digest === digest) return { id: t.id, name, version: String(t.versions.length), created: false };
    t.versions.push({ digest, data: structuredClone(data) });
    return { id: t.id, name, version: String(t.versions.length), created: true };
  }

  async launch(req: LaunchRequest): Promise<LaunchResult> {
    if (req.count <= 0) return { instances: [], errors: [] };
    // Any template reference is accepted: the pool record keeps the reference across runs (provisioning renders only
    // when the spec changes), while templates live in one provider's memory, and nothing of one is run anyway.
    const t = [...this.templates.values()].find((x) => x.id === req.template.id);
    const version = req.template.version === "$Latest" ? t?.versions.length : Number(req.template.version);
    const data = t?.versions[(version ?? 0) - 1]?.data ?? t?.versions.at(-1)?.data;
    const first = req.overrides[0];
    const tags = {
      ...data?.tags,
      ...req.tags,
      [TAG_POOL]: req.pool,
      [TAG_GENERATION]: String(req.generation),
      ...(req.exportId ? { [TAG_EXPORT]: req.exportId } : {}),
    };
    const instances: LaunchedInstance[] = [];
    for (let k = 0; k < req.count; k++) {
      const market: Market = k < req.onDemandCount ? "on-demand" : "spot";
      const instance = this.start(req.pool, tags, {
        instanceType: first?.instanceType ?? "local.process",
        subnetId: first?.subnetId ?? "subnet-local",
        market,
      });
      instances.push({
        instanceId: instance.instanceId,
        instanceType: instance.instanceType,
        subnetId: instance.subnetId,
        zone: "local",
        market,
      });
    }
    return { instances, errors: [] };
  }

  private agentArgs(instanceId: string, pool: string): string[] {
    const lease = this.o.leaseSeconds;
    // A Node command gets the agent's Node flags (config/settings.ts), as on a node.
    const nodeFlags = this.o.agentCommand[0] === process.execPath ? AGENT_NODE_FLAGS : [];
    return [
      ...nodeFlags,
      ...this.o.agentCommand.slice(1),
      "agent",
      "run",
      "--no-imds",
      "--node-id",
      instanceId,
      "--pool",
      this.o.claimPool?.(pool) ?? pool,
      "--state-table",
      this.o.stateTable,
      "--lease",
      `${lease}s`,
      "--heartbeat",
      `${Math.max(1, Math.floor(lease / 4))}s`,
      ...(this.o.extraAgentFlags ?? []),
    ];
  }

  private start(pool: string, tags: Record<string, string>, what: Pick<LaunchedInstance, "instanceType" | "subnetId" | "market">) {
    const instanceId = `${this.idPrefix}-${++this.seq}`;
    const log = createWriteStream(join(this.o.logDir, `${instanceId}.log`));
    const child = spawn(this.o.agentCommand[0]!, this.agentArgs(instanceId, pool), {
      // The agent's glibc settings, as on a node (config/settings.ts).
      env: { ...AGENT_PROCESS_ENV, ...(this.o.env ?? process.env) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    let exited = () => {};
    const instance: LocalInstance = {
      instanceId,
      zone: "local",
      ...what,
      launchedAt: this.o.clock.now(),
      tags: { ...tags },
      child,
      log,
      spawned: false,
      stopRequestedAt: null,
      exitedAt: null,
      exit: null,
      escalation: null,
      exited: new Promise<void>((resolve) => {
        exited = resolve;
      }),
    };
    const ended = (exit: NonNullable<LocalInstance["exit"]>) => {
      if (instance.exit) return;
      instance.exit = exit;
      instance.exitedAt = this.o.clock.now();
      instance.escalation?.abort();
      // Stopped by terminate() is not a death, however it ended (a boot cut short by SIGTERM, a SIGKILL after grace).
      if (exit.code !== 0 && instance.stopRequestedAt === null) this.died++;
      log.end(`agent exited: code ${exit.code} signal ${exit.signal}${exit.error ? ` (${exit.error})` : ""}\n`);
      exited();
    };
    child.once("spawn", () => {
      instance.spawned = true;
    });
    // 'close' (not 'exit') so the log has the last of stdout/stderr before the exit line.
    child.once("close", (code, signal) => ended({ code, signal }));
    // A command that cannot be started: its error says more than the negative errno 'close' reports after it.
    child.once("error", (err) => {
      if (!instance.spawned) ended({ code: null, signal: null, error: err.message });
    });
    this.instances.set(instanceId, instance);
    return instance;
  }

  private stateOf(i: LocalInstance): InstanceState {
    if (i.exit) return "terminated";
    if (i.stopRequestedAt !== null) return "shutting-down";
    return i.spawned ? "running" : "pending";
  }

  private reasonOf(i: LocalInstance): string | null {
    if (i.stopRequestedAt !== null) return USER_SHUTDOWN;
    if (!i.exit) return null;
    if (i.exit.error) return `${HOST_DIED}: ${i.exit.error}`;
    if (i.exit.signal) return `${HOST_DIED}: killed by ${i.exit.signal}`;
    return i.exit.code === 0 ? `${INSTANCE_SHUTDOWN}: exit code 0` : `${HOST_DIED}: exit code ${i.exit.code}`;
  }

  async describePoolInstances(pool: string): Promise<CloudInstance[]> {
    const now = this.o.clock.now();
    const retention = this.o.retentionMs ?? 3_600_000;
    const out: CloudInstance[] = [];
    for (const [id, i] of this.instances) {
      if (i.exitedAt !== null && now - i.exitedAt > retention) {
        this.instances.delete(id);
        continue;
      }
      if (i.tags[TAG_POOL] !== pool) continue;
      const { instanceId, instanceType, zone, market, launchedAt } = i;
      out.push({
        instanceId,
        state: this.stateOf(i),
        stateReason: this.reasonOf(i),
        instanceType,
        zone,
        market,
        launchedAt,
        tags: { ...i.tags },
      });
    }
    return out;
  }

  /** SIGTERM now (the agent drains), SIGKILL after the grace period if it is still there. Unknown or gone: skipped. */
  async terminate(instanceIds: string[]): Promise<void> {
    for (const id of instanceIds) {
      const i = this.instances.get(id);
      if (!i || i.exit || i.stopRequestedAt !== null) continue;
      i.stopRequestedAt = this.o.clock.now();
      i.child.kill("SIGTERM");
      const escalation = new AbortController();
      i.escalation = escalation;
      this.o.clock.sleep(this.o.terminateGraceMs ?? 30_000, escalation.signal).then(
        () => i.child.kill("SIGKILL"),
        () => {},
      );
    }
  }

  /** Zero: a local process costs nothing the cost model knows of. */
  async spotPrices(instanceTypes: string[], zones?: string[]): Promise<SpotPrice[]> {
    if (zones && !zones.includes("local")) return [];
    return instanceTypes.map((instanceType) => ({ instanceType, zone: "local", price: 0, at: this.o.clock.now() }));
  }

  onDemandPrice(_instanceType: string): number | null {
    return 0;
  }

  async zoneOfSubnet(_subnetId: string): Promise<string> {
    return "local";
  }

  /** Launched, died (exited unasked with a non-zero code or a signal) and still running, so far. */
  get stats(): { launched: number; died: number; running: number } {
    const running = [...this.instances.values()].filter((i) => !i.exit).length;
    return { launched: this.seq, died: this.died, running };
  }

  /** The process id of an instance, while it has one (tests kill agents by it). */
  pidOf(instanceId: string): number | undefined {
    const i = this.instances.get(instanceId);
    return i && !i.exit ? i.child.pid : undefined;
  }

  /** Terminates every process and waits until all have exited (SIGKILL after the grace period). */
  async shutdown(): Promise<void> {
    const live = [...this.instances.values()].filter((i) => !i.exit);
    await this.terminate(live.map((i) => i.instanceId));
    await Promise.all(live.map((i) => i.exited));
  }
}
