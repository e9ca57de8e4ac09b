import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Clock, systemClock } from "../lib/clock.ts";
import type { PolicyDocument } from "../lib/iam/policy-document.ts";
import { defaultGeography, type Geography } from "./catalogue.ts";
import { Chaos } from "./chaos.ts";
import { MetricStore } from "./cloudwatch.ts";
import { EventLog } from "./events.ts";
import { recorderOf } from "./front-door/recorder.ts";
import { type Identities, loadIdentities, SimIam } from "./iam/identities.ts";
import { Instances } from "./instances.ts";
import { MarketState } from "./market.ts";
import { SimSecrets } from "./secrets/index.ts";
import { LaunchTemplates } from "./templates.ts";
import { Timers } from "./timers.ts";

/** Everything that can be tuned when a sim starts. Durations are sim seconds, multiplied by `timeScale`. */
export interface SimSettings {
  stateDir: string;
  region: string;
  /** 1 = real time; 0.01 makes a 120 s notice last 1.2 s. */
  timeScale: number;
  bootDelaySec: number;
  shutdownDelaySec: number;
  killGraceSec: number;
  noticeSec: number;
  terminatedRetentionSec: number;
  hazardTickSec: number;
  /** The tag whose value names an instance's pool, for `sim hazard POOL`. */
  poolTag: string;
  geography?: Geography;
  instanceEnv: Record<string, string>;
  /** Executables baked into the machine image besides its tools, by name (tests: `{ node: process.execPath }`). */
  imageExtras?: Record<string, string>;
  /** An sshd per running instance (sim/ssh.ts); default: when /usr/sbin/sshd is installed. */
  ssh?: boolean;
  /** Root and pool access keys (sim/iam/identities.ts); default: the file SPOTFERRY_SIM_IDENTITIES names, else test/test. */
  identities?: Identities;
  /** Roles the sim knows from the start, by name, each with its policy (null: a role that may do nothing). */
  roles?: Record<string, PolicyDocument | null>;
  clock: Clock;
}

export const DEFAULT_SETTINGS: Omit<SimSettings, "stateDir"> = {
  region: "us-east-1",
  timeScale: 1,
  bootDelaySec: 5,
  shutdownDelaySec: 3,
  killGraceSec: 30,
  noticeSec: 120,
  terminatedRetentionSec: 3600,
  hazardTickSec: 30,
  poolTag: "spotferry:pool",
  instanceEnv: {},
  clock: systemClock,
};

/** The whole simulated region: one object the protocol front ends (EC2, CloudWatch, control API) share. */
export class World {
  readonly settings: SimSettings;
  readonly geo: Geography;
  readonly timers: Timers;
  readonly events: EventLog;
  readonly market: MarketState;
  readonly instances: Instances;
  readonly templates: LaunchTemplates;
  readonly metrics: MetricStore;
  readonly chaos: Chaos;
  /** Roles, sessions and policy checks: who may call what (sim/iam/). */
  readonly iam: SimIam;
  /** Secrets Manager secrets and SSM parameters (sim/secrets/). */
  readonly secrets = new SimSecrets();
  url = "";

  constructor(settings: SimSettings) {
    this.settings = settings;
    mkdirSync(join(settings.stateDir, "instances"), { recursive: true });
    this.geo = settings.geography ?? defaultGeography(settings.region);
    this.timers = new Timers(settings.clock, settings.timeScale);
    this.events = new EventLog(settings.clock, join(settings.stateDir, "events.jsonl"));
    this.market = new MarketState(this.geo, settings.clock);
    this.iam = new SimIam({
      identities: loadIdentities(settings.identities),
      clock: settings.clock,
      onDenial: (d) => this.events.add("access-denied", { action: d.action, resource: d.resource, role: d.role, caller: d.caller }),
      // With the front doors' S3 and DynamoDB calls, so one coverage check sees every call a role made.
      onServed: (c) =>
        recorderOf(this).record({
          time: settings.clock.now(),
          principal: c.caller.arn,
          role: c.caller.role,
          service: c.service,
          api: c.api,
          requests: c.requests,
          status: c.denial ? 403 : 200,
          ...(c.denial ? { refused: c.denial.action } : {}),
        }),
    });
    for (const [name, policy] of Object.entries(settings.roles ?? {})) this.iam.putRole(name, policy ?? undefined);
    this.instances = new Instances({ ...settings, simUrl: () => this.url, iam: this.iam }, this.timers, this.events);
    this.templates = new LaunchTemplates(settings.clock);
    this.metrics = new MetricStore();
    this.chaos = new Chaos(this);
  }

  get clock(): Clock {
    return this.settings.clock;
  }

  async stop(graceMs = 2000): Promise<void> {
    this.timers.stop();
    await this.instances.stopAll(graceMs);
  }
}
