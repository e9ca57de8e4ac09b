import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { EventLog } from "./events.ts";
import type { SimIam } from "./iam/identities.ts";
import { InstanceCredentials } from "./iam/instance-credentials.ts";
import { type ImdsServer, startImds } from "./imds.ts";
import type { Market } from "./market.ts";
import { checkInstanceEnv, type InstanceProcess, imagePath, passthroughEnv, startUserData } from "./processes.ts";
import { type SimSshd, sshAvailable, startSshd } from "./ssh.ts";
import type { Timers } from "./timers.ts";

/**
 * Instances and their lifecycle, as EC2 runs it: pending -> running (after the boot delay; user-data starts then)
 * -> shutting-down (SIGTERM to the process group, SIGKILL after the grace period) -> terminated (once the processes are
 * gone and the shutdown delay has passed). Terminated instances stay visible for `terminatedRetentionSec`, like EC2's
 * hour of afterlife, so a controller can still read why an instance went away.
 */
export type StateName = "pending" | "running" | "shutting-down" | "terminated";
export const STATE_CODES: Record<StateName, number> = { pending: 0, running: 16, "shutting-down": 32, terminated: 48 };

export interface StateReason {
  code: string;
  message: string;
}

export const REASONS = {
  spot: { code: "Server.SpotInstanceTermination", message: "Server.SpotInstanceTermination: Spot instance termination" },
  user: { code: "Client.UserInitiatedShutdown", message: "Client.UserInitiatedShutdown: User initiated shutdown" },
  internal: { code: "Server.InternalError", message: "Server.InternalError: Internal error" },
} as const satisfies Record<string, StateReason>;

export interface LaunchSpec {
  type: string;
  zone: string;
  subnetId: string;
  lifecycle: Market;
  imageId: string;
  reservationId: string;
  /** Base64, as it arrives in the launch template or RunInstances. */
  userData?: string;
  tags: Record<string, string>;
  launchTemplate?: { id: string; name: string; version: number };
  keyName?: string;
  /** The role of the instance profile it was launched with (checked at launch), and the profile's ARN. */
  role?: string;
  instanceProfileArn?: string;
}

export interface SimInstance extends LaunchSpec {
  id: string;
  seq: number;
  launchTime: number;
  privateIp: string;
  state: StateName;
  stateReason?: StateReason;
  stateTransitionReason: string;
  tagMap: Map<string, string>;
  noticeTime?: number;
  rebalanceTime?: number;
  terminatedAt?: number;
  dir: string;
  imds?: ImdsServer;
  imdsReady: Promise<void>;
  proc?: InstanceProcess;
  /** The node's sshd (sim/ssh.ts), while it runs. */
  sshd?: SimSshd;
  /** Its instance profile's rotating session, served by IMDS. */
  credentials?: InstanceCredentials;
  /** Its process group is stopped (SIGSTOP): a hung host that still holds whatever it held. */
  frozen?: boolean;
}

export interface InstanceSettings {
  region: string;
  stateDir: string;
  bootDelaySec: number;
  shutdownDelaySec: number;
  killGraceSec: number;
  terminatedRetentionSec: number;
  /** Extra environment for every instance (tests only; names that look like secrets are refused). */
  instanceEnv: Record<string, string>;
  /** Executables baked into the image besides IMAGE_TOOLS (tests only; real nodes get Node from the bundle). */
  imageExtras?: Record<string, string>;
  /** The sim's own URL, for the instances' AWS_ENDPOINT_URL_EC2 / _MONITORING. */
  simUrl: () => string;
  /** An sshd per running instance (sim/ssh.ts); default: when /usr/sbin/sshd is installed. */
  ssh?: boolean;
  /** Issues the sessions of instance profiles. */
  iam?: SimIam;
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
export const newId = (prefix: string) => `${prefix}-0${hex(8)}`;
const gmt = (ms: number) => `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} GMT`;

export class Instances {
  private readonly settings: InstanceSettings;
  private readonly timers: Timers;
  private readonly events: EventLog;
  private readonly all = new Map<string, SimInstance>();
  private seq = 0;
  /** Set by stopAll: an sshd still starting when the sim stops must not outlive it. */
  private stopping = false;

  constructor(settings: InstanceSettings, timers: Timers, events: EventLog) {
    checkInstanceEnv(settings.instanceEnv);
    this.settings = settings;
    this.timers = timers;
    this.events = events;
  }

  private get now(): number {
    return this.timers.clock.now();
  }

  launch(spec: LaunchSpec): SimInstance {
    const seq = ++this.seq;
    const id = newId("i");
    const inst: SimInstance = {
      ...spec,
      id,
      seq,
      launchTime: this.now,
      privateIp: `10.0.${Math.floor(seq / 250) % 250}.${(seq % 250) + 4}`,
      state: "pending",
      stateTransitionReason: "",
      tagMap: new Map(Object.entries(spec.tags)),
      dir: join(this.settings.stateDir, "instances", id),
      imdsReady: Promise.resolve(),
    };
    if (spec.role && this.settings.iam) {
      const { iam } = this.settings;
      inst.credentials = new InstanceCredentials({
        iam,
        clock: this.timers.clock,
        role: spec.role,
        instanceId: id,
        profileArn: spec.instanceProfileArn,
      });
    }
    this.all.set(id, inst);
    inst.imdsReady = startImds(
      () => ({
        ...inst,
        instanceId: id,
        instanceType: inst.type,
        tags: inst.tagMap,
        region: this.settings.region,
        iam: inst.credentials,
        userData: inst.userData ? Buffer.from(inst.userData, "base64") : undefined,
      }),
      this.timers.clock,
    ).then(
      (server) => {
        if (inst.state === "terminated") void server.close();
        else inst.imds = server;
      },
      (err) => {
        this.events.add("imds-failed", { instanceId: id, error: String(err) });
      },
    );
    this.events.add("launched", { instanceId: id, instanceType: spec.type, zone: spec.zone, lifecycle: spec.lifecycle });
    this.timers.after(this.settings.bootDelaySec, () => void this.boot(inst));
    return inst;
  }

  private async boot(inst: SimInstance): Promise<void> {
    await inst.imdsReady;
    if (inst.state !== "pending") return;
    inst.state = "running";
    this.events.add("running", { instanceId: inst.id });
    if (!inst.userData || !inst.imds) return;
    const userData = Buffer.from(inst.userData, "base64");
    if (userData.subarray(0, 13).toString() === "#cloud-config") {
      this.events.add("user-data-skipped", { instanceId: inst.id, why: "cloud-config is not run by the sim" });
      return;
    }
    // sshd first, as on EC2, so the user-data can print its host key fingerprint to the console.
    if (this.settings.ssh ?? sshAvailable()) {
      try {
        const sshd = await startSshd({ instanceId: inst.id, dir: inst.dir, stateDir: this.settings.stateDir });
        if (inst.state !== "running" || this.stopping) return sshd.stop();
        // No event for this: the event log is the chaos ledger tests assert on; the summary shows the sshd.
        inst.sshd = sshd;
      } catch (err) {
        this.events.add("sshd-failed", { instanceId: inst.id, error: String(err) });
      }
    }
    const simUrl = this.settings.simUrl();
    inst.proc = startUserData({
      dir: inst.dir,
      userData,
      env: {
        ...passthroughEnv(process.env),
        PATH: imagePath(this.settings.stateDir, this.settings.imageExtras),
        AWS_REGION: this.settings.region,
        AWS_ENDPOINT_URL_EC2: simUrl,
        AWS_ENDPOINT_URL_MONITORING: simUrl,
        AWS_ENDPOINT_URL_CLOUDWATCH: simUrl,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: simUrl,
        AWS_ENDPOINT_URL_SSM: simUrl,
        AWS_EC2_METADATA_SERVICE_ENDPOINT: inst.imds.url,
        AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: "IPv4",
        // Tells bootstrap/user-data.ts it runs as a process-level node: files here, no systemd, no installs.
        SPOTFERRY_NODE_DIR: inst.dir,
        ...(inst.sshd ? { SPOTFERRY_SSH_HOST_KEY: inst.sshd.hostKeyFile } : {}),
        ...this.settings.instanceEnv,
      },
      onExit: (code) => this.events.add("user-data-exited", { instanceId: inst.id, code }),
    });
    this.events.add("user-data-started", { instanceId: inst.id, pid: inst.proc.pid });
  }

  get(id: string): SimInstance | undefined {
    this.prune();
    return this.all.get(id);
  }

  /** Every visible instance in launch order. */
  list(): SimInstance[] {
    this.prune();
    return [...this.all.values()];
  }

  live(): SimInstance[] {
    return this.list().filter((i) => i.state === "pending" || i.state === "running");
  }

  private prune(): void {
    const horizon = this.now - this.timers.ms(this.settings.terminatedRetentionSec);
    for (const [id, inst] of this.all) {
      if (inst.state === "terminated" && (inst.terminatedAt ?? 0) < horizon) this.all.delete(id);
    }
  }

  /**
   * Starts shutting an instance down. Idempotent: an instance already shutting down or terminated keeps its first
   * reason, as on EC2. `hard` skips SIGTERM (a host failure or a kill without notice).
   */
  shutdown(inst: SimInstance, reason: StateReason, opts: { hard?: boolean; by?: "user" | "service" } = {}): void {
    if (inst.state !== "pending" && inst.state !== "running") return;
    inst.state = "shutting-down";
    inst.stateReason = reason;
    inst.stateTransitionReason = `${opts.by === "user" ? "User" : "Service"} initiated (${gmt(this.now)})`;
    this.events.add("shutting-down", { instanceId: inst.id, reason: reason.code, hard: opts.hard ?? false });
    const proc = inst.proc;
    // A frozen host cannot act on a SIGTERM (it would stay pending): it goes as a hung VM does, at once.
    const hard = opts.hard || inst.frozen;
    if (proc) {
      proc.signal(hard ? "SIGKILL" : "SIGTERM");
      if (!hard) this.timers.after(this.settings.killGraceSec, () => proc.signal("SIGKILL"));
    }
    this.timers.after(this.settings.shutdownDelaySec, () => {
      const gone = proc ? proc.exited : Promise.resolve("");
      gone.then(() => this.markTerminated(inst));
    });
  }

  private markTerminated(inst: SimInstance): void {
    if (inst.state === "terminated") return;
    // Whatever the user-data left behind in its group dies with the instance.
    inst.proc?.signal("SIGKILL");
    inst.sshd?.stop();
    inst.sshd = undefined;
    inst.state = "terminated";
    inst.terminatedAt = this.now;
    inst.noticeTime = undefined;
    this.events.add("terminated", { instanceId: inst.id, reason: inst.stateReason?.code });
    void inst.imds?.close();
    // The root volume goes with the instance (DeleteOnTermination) — here only the ~130 MB Node runtime it unpacked;
    // its console and agent log stay for post-mortems.
    rm(join(inst.dir, "spotferry", "runtime"), { recursive: true, force: true }).catch(() => {});
  }

  /** A spot interruption notice now; termination with the spot reason when it expires. */
  interrupt(inst: SimInstance, noticeSec: number, cause: Record<string, unknown> = {}): number {
    if (inst.state !== "pending" && inst.state !== "running") {
      throw new Error(`interrupting ${inst.id}: it is ${inst.state}`);
    }
    if (inst.noticeTime !== undefined) return inst.noticeTime;
    inst.noticeTime = this.now + this.timers.ms(noticeSec);
    this.events.add("interruption-notice", {
      instanceId: inst.id,
      terminateAt: new Date(inst.noticeTime).toISOString(),
      noticeSeconds: noticeSec,
      ...cause,
    });
    this.timers.after(noticeSec, () => this.shutdown(inst, REASONS.spot));
    return inst.noticeTime;
  }

  /**
   * SIGSTOP to the instance's process group (a stalled VM, a long GC pause): its agent stops heartbeating but keeps
   * its state and connections, and acts on them again after `thaw`, like a zombie that slept past its lease.
   */
  freeze(inst: SimInstance): void {
    if (inst.state !== "running" || !inst.proc)
      throw new Error(`freezing ${inst.id}: it is ${inst.state}${inst.proc ? "" : ", not started"}`);
    if (inst.frozen) return;
    inst.proc.signal("SIGSTOP");
    inst.frozen = true;
    this.events.add("frozen", { instanceId: inst.id });
  }

  /** SIGCONT to a frozen instance's process group; an instance that is not frozen is left alone. */
  thaw(inst: SimInstance): void {
    if (!inst.frozen) return;
    inst.frozen = false;
    inst.proc?.signal("SIGCONT");
    this.events.add("thawed", { instanceId: inst.id, state: inst.state });
  }

  rebalance(inst: SimInstance): void {
    if (inst.state !== "pending" && inst.state !== "running") {
      throw new Error(`sending a rebalance recommendation to ${inst.id}: it is ${inst.state}`);
    }
    inst.rebalanceTime ??= this.now;
    this.events.add("rebalance-recommendation", { instanceId: inst.id });
  }

  /** Stops every process and metadata endpoint at once (sim shutdown): SIGTERM, then SIGKILL after `graceMs`. */
  async stopAll(graceMs: number): Promise<void> {
    this.stopping = true;
    const procs = [...this.all.values()].flatMap((i) => (i.proc ? [i.proc] : []));
    for (const p of procs) p.signal("SIGTERM");
    const exited = Promise.all(procs.map((p) => p.exited));
    await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
    for (const p of procs) p.signal("SIGKILL");
    for (const i of this.all.values()) i.sshd?.stop();
    await Promise.all([...this.all.values()].map((i) => i.imdsReady.then(() => i.imds?.close())));
  }
}
