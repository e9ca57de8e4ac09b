import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EC2Client } from "@aws-sdk/client-ec2";
import { poolSpec } from "../../config/pool-spec.ts";
import { controllerSettings } from "../../config/settings.ts";
import { Ec2Provider } from "../../controller/cloud/ec2-provider.ts";
import { Controller } from "../../controller/controller.ts";
import { staticTemplateSource } from "../../controller/reconcilers/context.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { FakeClock } from "../../lib/clock.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { startSim } from "../../sim/server.ts";
import { plan } from "../contract/job-store.contract.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/**
 * What one reconcile pass costs in requests at scale, with and without the shared cluster snapshot, measured in the
 * same run: an export of --partitions PENDING partitions and a pool of --nodes READY sim nodes (instances launched in
 * a private sim whose nodes only sleep). Prints DynamoDB reads and EC2 DescribeInstances calls per pass (a quiet
 * pass: nothing to launch or release), the figures the snapshot is meant to cut. Asserts nothing.
 *   npm run bench -- reconcile-pass [--partitions 10000] [--nodes 200]
 */
const { values } = parseArgs({ options: { partitions: { type: "string", default: "10000" }, nodes: { type: "string", default: "200" } } });
const PARTS = Number(values.partitions);
const NODES = Number(values.nodes);

const clock = new FakeClock();
const stateDir = mkdtempSync(join(tmpdir(), "spotferry-bench-sim-"));
const sim = await startSim({ clock, timeScale: 1, stateDir });
const ec2 = new EC2Client({ region: "us-east-1", endpoint: sim.url, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
const t = await tempStateTable("pass-bench");
try {
  const jobs = new DynamoJobStore({ client: t.client, tableName: t.tableName, clock });
  const fleet = new DynamoFleetStore({ client: t.client, tableName: t.tableName, clock });
  const provider = new Ec2Provider({ ec2, clock, onDemandPrices: { "m5.large": 0.096 } });
  // Calls per port method, so the figures say which reads the snapshot saves (and which are left).
  const calls = new Map<string, number>();
  const counted = <T extends object>(name: string, port: T): T =>
    new Proxy(port, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          calls.set(`${name}.${String(prop)}`, (calls.get(`${name}.${String(prop)}`) ?? 0) + 1);
          return v.apply(target, args);
        };
      },
    });
  const cloud = counted("cloud", provider);
  const describes = () => calls.get("cloud.describePoolInstances") ?? 0;
  const pool = "bench";
  const spec = poolSpec.parse({
    kind: "Pool",
    name: pool,
    instanceTypes: ["m5.large"],
    subnets: ["subnet-a", "subnet-b"],
    imageId: "ami-0sim",
    capacity: { min: NODES, max: NODES, partitionsPerNode: 1 },
  });
  await fleet.applyPool(spec);
  await jobs.createExport(plan(PARTS, pool));
  const settings = controllerSettings.parse({ stateTable: t.tableName, heartbeatTimeout: 86_400 });
  const controller = (shareSnapshot: boolean) =>
    new Controller({
      clock,
      cloud,
      fleet: counted("fleet", fleet),
      jobs: counted("jobs", jobs),
      settings,
      templates: staticTemplateSource("#!/bin/bash\nsleep 3600\n"),
      finalize: async () => {},
      owner: `bench-${shareSnapshot}`,
      shareSnapshot,
      log: () => {},
    });
  // Bring the pool to NODES READY nodes: launch, boot (5 s of sim time), passes until every node is READY (a state,
  // not a time: the sim's processes may take long on a loaded machine; a bounded number of passes, then report).
  const warm = controller(true);
  const readyNodes = async () => (await fleet.listNodes(pool)).filter((n) => n.lifecycle === "READY").length;
  for (let i = 0; i < 200 && (await readyNodes()) < NODES; i++) {
    await warm.step();
    await clock.advance(6_000);
    await new Promise((r) => setImmediate(r));
  }
  await warm.stop();
  const ready = await readyNodes();
  console.log(`${PARTS.toLocaleString("en-US")} partitions, ${ready} READY nodes (of ${NODES} asked)`);
  for (const shareSnapshot of [false, true]) {
    const c = controller(shareSnapshot);
    await c.step(); // take the lease; the next pass runs every reconciler again
    await clock.advance(60_000);
    const before = { reads: jobs.stats.reads + fleet.stats.reads, describes: describes() };
    calls.clear();
    const r = await c.runOnce();
    const reads = jobs.stats.reads + fleet.stats.reads - before.reads;
    console.log(
      `  ${shareSnapshot ? "shared snapshot" : "per reconciler "}: ${reads.toLocaleString("en-US")} DynamoDB reads, ${describes()} DescribeInstances calls in one pass of ${r.ran.length} reconcilers`,
    );
    console.log(`    calls: ${[...calls].map(([k, v]) => `${k} ${v}`).join(", ")}`);
  }
} finally {
  ec2.destroy();
  await sim.stop();
  rmSync(stateDir, { recursive: true, force: true });
  await t.drop();
}
