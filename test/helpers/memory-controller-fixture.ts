import { type PoolSpec, poolSpec } from "../../config/pool-spec.ts";
import type { NodeRecord } from "../../config/records.ts";
import { type ControllerSettings, controllerSettings } from "../../config/settings.ts";
import { FakeCloudProvider, type FakeCloudProviderOptions } from "../../controller/cloud/fake-provider.ts";
import { Controller, type NamedReconciler } from "../../controller/controller.ts";
import { staticTemplateSource } from "../../controller/reconcilers/context.ts";
import { MemoryFleetStore } from "../../controller/store/memory-fleet-store.ts";
import { FakeClock } from "../../lib/clock.ts";
import { MemoryJobStore } from "../../lib/jobs/memory-job-store.ts";
import { plan } from "../contract/job-store.contract.ts";

/**
 * One reconciler test with no service: MemoryJobStore, MemoryFleetStore and FakeCloudProvider on one FakeClock, all
 * new for each test (so, unlike test/helpers/controller-fixture.ts, no clock jump is needed to age out another test's
 * leases), one pool and controllers on demand. The market is the sim's as far as the tests rely on it: subnet-a/b in
 * us-east-1a/b, the sim's spot prices for m5.large and m6i.large (m6i.large in 1a is the cheapest spot pool under
 * lowest-price, then m5.large in 1a, then 1b), boot 5 s, shutdown 3 s. Like the stack fixture it turns dead-agent
 * detection off (heartbeatTimeout 86400) unless a test sets it, because the tests play agents only when they need one.
 */
export const MEMORY_SPOT_PRICES = {
  "m5.large|us-east-1a": 0.0392,
  "m5.large|us-east-1b": 0.0416,
  "m6i.large|us-east-1a": 0.0378,
  "m6i.large|us-east-1b": 0.0401,
};

export interface MemoryFixtureOptions {
  pool?: Record<string, unknown>;
  settings?: Partial<Record<keyof ControllerSettings, unknown>>;
  cloud?: Partial<Omit<FakeCloudProviderOptions, "clock">>;
}

export async function memoryControllerFixture(opts: MemoryFixtureOptions = {}) {
  const clock = new FakeClock(Date.parse("2026-01-01T00:00:00Z"));
  const settings = controllerSettings.parse({ stateTable: "memory-state", heartbeatTimeout: 86_400, ...opts.settings });
  const fleet = new MemoryFleetStore({ clock });
  const jobs = new MemoryJobStore({ clock });
  const cloud = new FakeCloudProvider({
    clock,
    subnets: { "subnet-a": "us-east-1a", "subnet-b": "us-east-1b" },
    spotPrices: MEMORY_SPOT_PRICES,
    onDemandPrices: { "m5.large": 0.096, "m6i.large": 0.096 },
    ...opts.cloud,
  });
  const name = "pool-1";
  const spec: PoolSpec = poolSpec.parse({
    kind: "Pool",
    name,
    instanceTypes: ["m5.large", "m6i.large"],
    subnets: ["subnet-a", "subnet-b"],
    imageId: "ami-0fake",
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
      templates: staticTemplateSource("#!/bin/bash\nsleep 3600\n"),
      // What controller/finalize ends with (manifest and marker aside), so an export is finalized once, not every pass.
      finalize: async (id) => {
        finalized.push(id);
        await jobs.setExportState(id, { from: ["RUNNING", "FINALIZING"], to: "SUCCEEDED" });
      },
      owner,
      reconcilers,
      log: (line) => logs.push(`${owner}: ${line}`),
    });

  const advance = (ms: number) => clock.advance(ms);
  /** Steps time by `stepMs` until `check` holds. */
  const until = async <T>(what: string, check: () => Promise<T | undefined | false | null>, stepMs = 1_000, max = 400): Promise<T> => {
    for (let i = 0; i < max; i++) {
      const v = await check();
      if (v !== undefined && v !== false && v !== null) return v;
      await advance(stepMs);
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
  /** The cloud's view of the pool's instances, by id. */
  const instances = async () => new Map((await cloud.describePoolInstances(name)).map((i) => [i.instanceId, i]));
  return {
    ...{ clock, fleet, jobs, cloud, controls: cloud.controls, settings, pool: name, spec, logs, finalized },
    ...{ controller, advance, until, nodes, live, createExport, instances },
  };
}

export type MemoryFixture = Awaited<ReturnType<typeof memoryControllerFixture>>;
