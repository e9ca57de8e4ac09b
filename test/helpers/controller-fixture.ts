import type { TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type PoolSpec, poolSpec } from "../../config/pool-spec.ts";
import type { NodeRecord } from "../../config/records.ts";
import { type ControllerSettings, controllerSettings } from "../../config/settings.ts";
import { Ec2Provider } from "../../controller/cloud/ec2-provider.ts";
import { Controller, type NamedReconciler } from "../../controller/controller.ts";
import { staticTemplateSource } from "../../controller/reconcilers/context.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { FakeClock } from "../../lib/clock.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { plan } from "../contract/job-store.contract.ts";
import { testSim } from "./sim.ts";
import type { tempStateTable } from "./temp-dynamo.ts";

/** Nodes need no agent in these tests: the test plays the agents through the JobStore, owner = instance id. */
export const SLEEPER = "#!/bin/bash\nsleep 3600\n";

let clockOffset = 0;

/**
 * One controller test: a private sim and the file's state table on one stepped FakeClock (the sim's timers run on it
 * too, at time scale 1: boot 5 s, shutdown 3 s, spot notice 120 s), one pool, and controllers on demand. Each test
 * gets a clock 30 days after the previous one, so leases left in the shared table by an earlier test are long expired.
 */
export async function controllerFixture(
  t: TestContext,
  table: Awaited<ReturnType<typeof tempStateTable>>,
  opts: {
    pool?: Record<string, unknown>;
    settings?: Partial<Record<keyof ControllerSettings, unknown>>;
    sim?: Record<string, unknown>;
  } = {},
) {
  clockOffset += 30 * 86_400_000;
  const clock = new FakeClock(Date.parse("2026-01-01T00:00:00Z") + clockOffset);
  const { sim, ec2, cloudwatch } = await testSim(t, { clock, timeScale: 1, ...opts.sim });
  const settings = controllerSettings.parse({ stateTable: table.tableName, heartbeatTimeout: 86_400, ...opts.settings });
  const fleet = new DynamoFleetStore({ client: table.client, tableName: table.tableName, clock });
  const jobs = new DynamoJobStore({ client: table.client, tableName: table.tableName, clock });
  const cloud = new Ec2Provider({ ec2, clock, onDemandPrices: { "m5.large": 0.096, "m6i.large": 0.096 } });
  const name = `p${Math.random().toString(36).slice(2, 8)}`;
  const spec: PoolSpec = poolSpec.parse({
    kind: "Pool",
    name,
    instanceTypes: ["m5.large", "m6i.large"],
    subnets: ["subnet-a", "subnet-b"],
    imageId: "ami-0sim",
    capacity: { min: 0, max: 4 },
    allocationStrategy: "lowest-price",
    ...opts.pool,
  });
  await fleet.applyPool(spec);
  const logs: string[] = [];
  const finalized: string[] = [];
  const controller = (owner: string, reconcilers?: NamedReconciler[]) =>
    new Controller({
      clock,
      cloud,
      fleet,
      jobs,
      settings,
      templates: staticTemplateSource(SLEEPER),
      finalize: async (id) => {
        finalized.push(id);
      },
      cloudwatch,
      owner,
      reconcilers,
      log: (line) => logs.push(`${owner}: ${line}`),
    });

  /** Moves the shared clock and gives the sim's processes a moment of real time to react. */
  const advance = async (ms: number) => {
    await clock.advance(ms);
    await sleep(5);
  };
  /** Steps time by `stepMs` until `check` holds (sim state changes need both fake time and real process exits). */
  const until = async <T>(what: string, check: () => Promise<T | undefined | false | null>, stepMs = 1_000, max = 400): Promise<T> => {
    for (let i = 0; i < max; i++) {
      const v = await check();
      if (v !== undefined && v !== false && v !== null) return v;
      await advance(stepMs);
      await sleep(20);
    }
    throw new Error(`gave up waiting for ${what}; log:\n${logs.slice(-30).join("\n")}`);
  };
  const nodes = () => fleet.listNodes(name);
  const live = async () => (await nodes()).filter((n: NodeRecord) => n.lifecycle === "LAUNCHING" || n.lifecycle === "READY");
  /** An export of `partitions` single-key partitions on this pool. */
  const createExport = async (partitions: number) => {
    const p = plan(partitions, name);
    await jobs.createExport(p);
    return p.exportId;
  };
  return {
    clock,
    sim,
    ec2,
    fleet,
    jobs,
    cloud,
    settings,
    pool: name,
    spec,
    logs,
    finalized,
    controller,
    advance,
    until,
    nodes,
    live,
    createExport,
  };
}
