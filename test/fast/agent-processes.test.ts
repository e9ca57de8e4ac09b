import assert from "node:assert/strict";
import { test } from "node:test";
import { childArgs } from "../../agent/processes.ts";
import { poolSpec } from "../../config/pool-spec.ts";
import { poolRecord } from "../../config/records.ts";
import { controllerSettings } from "../../config/settings.ts";
import { agentFlags } from "../../controller/cloud/node-templates.ts";

/** How a node is told to use its cores: the pool's partitionsPerNode becomes that many agent processes. */
const pool = (partitionsPerNode: number) =>
  poolRecord.parse({
    pool: "p",
    spec: poolSpec.parse({
      kind: "Pool",
      name: "p",
      instanceTypes: ["m5.large"],
      subnets: ["subnet-a"],
      imageId: "ami-0abc",
      capacity: { max: 2, partitionsPerNode },
    }),
    generation: 1,
    desiredSize: 0,
    updatedAt: "2026-01-01T00:00:00Z",
  });

test("a pool working on N partitions per node runs N agent processes on it", () => {
  const settings = controllerSettings.parse({ stateTable: "state" });
  assert.ok(!agentFlags(pool(1), settings).some((f) => f.startsWith("--processes")));
  assert.ok(agentFlags(pool(4), settings).includes("--processes=4"));
});

test("a child agent gets the supervisor's command line with one process", () => {
  assert.deepEqual(childArgs(["bin/x.mjs", "agent", "run", "--processes", "4", "--pool", "p"]), [
    "bin/x.mjs",
    "agent",
    "run",
    "--pool",
    "p",
    "--processes=1",
  ]);
  assert.deepEqual(childArgs(["a.mjs", "--processes=3"]), ["a.mjs", "--processes=1"]);
});
