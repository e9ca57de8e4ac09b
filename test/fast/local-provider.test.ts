import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { CloudInstance, LaunchRequest } from "../../controller/cloud/cloud-provider.ts";
import { LocalCloudProvider, type LocalCloudProviderOptions } from "../../controller/cloud/local-provider.ts";
import { FakeClock } from "../../lib/clock.ts";

// LocalCloudProvider's instances are processes: these cases run a tiny script in place of the agent (it prints its
// argv, then behaves as LOCAL_TEST_MODE says) and read the states and reasons the reconcilers would see. Time for the
// SIGKILL escalation and the retention comes from a FakeClock; process events are waited for in real time.

const dir = mkdtempSync(join(tmpdir(), "spotferry-local-provider-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const script = join(dir, "fake-agent.mjs");
writeFileSync(
  script,
  `const mode = process.env.LOCAL_TEST_MODE ?? "serve";
console.log("argv " + process.argv.slice(2).join(" "));
if (mode === "exit0") process.exit(0);
if (mode === "exit3") process.exit(3);
process.on("SIGTERM", () => {
  if (mode === "stubborn") return console.log("ignoring SIGTERM");
  console.log("draining");
  setTimeout(() => process.exit(0), 20);
});
setInterval(() => {}, 1000);
console.log("ready");
`,
);

const providers: LocalCloudProvider[] = [];
after(() => Promise.all(providers.map((p) => p.shutdown())));

function provider(mode: string, extra: Partial<LocalCloudProviderOptions> = {}) {
  const clock = new FakeClock();
  const cloud = new LocalCloudProvider({
    clock,
    agentCommand: [process.execPath, script],
    stateTable: "state-1",
    leaseSeconds: 8,
    logDir: join(dir, mode),
    env: { ...process.env, LOCAL_TEST_MODE: mode },
    claimPool: (pool) => `claims-of-${pool}`,
    terminateGraceMs: 5_000,
    ...extra,
  });
  providers.push(cloud);
  return { clock, cloud };
}

async function launch(cloud: LocalCloudProvider, count: number, pool = "local-p"): Promise<string[]> {
  const template = await cloud.ensureLaunchTemplate(`spotferry-${pool}`, { imageId: "ami-local", userData: "#", tags: { t: "1" } });
  const req: LaunchRequest = {
    pool,
    generation: 3,
    exportId: "e-1",
    template,
    overrides: [{ instanceType: "local.process", subnetId: "subnet-local" }],
    count,
    onDemandCount: count,
    allocationStrategy: "lowest-price",
  };
  const result = await cloud.launch(req);
  assert.deepEqual(result.errors, []);
  return result.instances.map((i) => i.instanceId);
}

async function until(cloud: LocalCloudProvider, id: string, check: (i: CloudInstance) => boolean, pool = "local-p") {
  for (let k = 0; k < 4000; k++) {
    const i = (await cloud.describePoolInstances(pool)).find((x) => x.instanceId === id);
    if (i && check(i)) return i;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`instance ${id} never reached the expected state`);
}

// The provider opens each log asynchronously: a log not created yet reads as empty.
const logOf = (mode: string, id: string) => {
  const file = join(dir, mode, `${id}.log`);
  return existsSync(file) ? readFileSync(file, "utf8") : "";
};

/** Until the script has installed its SIGTERM handler: a process stopped while it boots just dies of the signal. */
async function ready(mode: string, id: string) {
  // Bounded by the test's own timeout only: under load a process may take a while to get there.
  while (!logOf(mode, id).includes("ready\n")) await new Promise((r) => setTimeout(r, 25));
}

test("launched processes run with the agent's flags and the launch's tags, and SIGTERM drains them", async () => {
  const { cloud } = provider("serve");
  const [a, b] = await launch(cloud, 2);
  const running = await until(cloud, a!, (i) => i.state === "running");
  assert.deepEqual(
    [running.zone, running.market, running.instanceType, running.stateReason, running.tags["spotferry:pool"], running.tags.t],
    ["local", "on-demand", "local.process", null, "local-p", "1"],
  );
  assert.deepEqual([running.tags["spotferry:generation"], running.tags["spotferry:export"]], ["3", "e-1"]);
  await until(cloud, b!, (i) => i.state === "running");
  assert.deepEqual(cloud.stats, { launched: 2, died: 0, running: 2 });
  assert.deepEqual(await cloud.describePoolInstances("other-pool"), []);
  await ready("serve", a!);
  await cloud.terminate([a!]);
  const stopping = await until(cloud, a!, () => true);
  assert.deepEqual([stopping.state, stopping.stateReason], ["shutting-down", "Client.UserInitiatedShutdown"]);
  const gone = await until(cloud, a!, (i) => i.state === "terminated");
  assert.equal(gone.stateReason, "Client.UserInitiatedShutdown", "the first reason stays, as on EC2");
  assert.match(
    logOf("serve", a!),
    new RegExp(`argv agent run --no-imds --node-id ${a} --pool claims-of-local-p --state-table state-1 --lease 8s --heartbeat 2s\n`),
  );
  assert.match(logOf("serve", a!), /draining\nagent exited: code 0 signal null\n$/);
  await cloud.shutdown();
  assert.deepEqual(cloud.stats, { launched: 2, died: 0, running: 0 });
});

test("a process killed from outside is a host that died: SIGKILL, exit codes and a failed spawn as state reasons", async () => {
  const { cloud } = provider("serve");
  const [a] = await launch(cloud, 1);
  await until(cloud, a!, (i) => i.state === "running");
  process.kill(cloud.pidOf(a!)!, "SIGKILL");
  const killed = await until(cloud, a!, (i) => i.state === "terminated");
  assert.equal(killed.stateReason, "Server.InternalError: killed by SIGKILL");
  assert.equal(cloud.pidOf(a!), undefined);
  assert.equal(cloud.stats.died, 1);

  const crashing = provider("exit3").cloud;
  const [c] = await launch(crashing, 1);
  assert.equal((await until(crashing, c!, (i) => i.state === "terminated")).stateReason, "Server.InternalError: exit code 3");
  const idle = provider("exit0").cloud;
  const [d] = await launch(idle, 1);
  assert.equal((await until(idle, d!, (i) => i.state === "terminated")).stateReason, "Client.InstanceInitiatedShutdown: exit code 0");
  assert.equal(idle.stats.died, 0, "an agent that exits 0 by itself did not die");
  const broken = provider("serve", { agentCommand: [join(dir, "no-such-node")] }).cloud;
  const [e] = await launch(broken, 1);
  assert.match((await until(broken, e!, (i) => i.state === "terminated")).stateReason ?? "", /^Server\.InternalError: spawn .*ENOENT/);
});

test("an agent that ignores SIGTERM is killed after the grace period on the injected clock", async () => {
  const { clock, cloud } = provider("stubborn");
  const [a] = await launch(cloud, 1);
  await until(cloud, a!, (i) => i.state === "running");
  await ready("stubborn", a!);
  await cloud.terminate([a!]);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await until(cloud, a!, () => true)).state, "shutting-down", "still there within the grace period");
  await clock.advance(5_000);
  const gone = await until(cloud, a!, (i) => i.state === "terminated");
  assert.equal(gone.stateReason, "Client.UserInitiatedShutdown");
  assert.match(logOf("stubborn", a!), /ignoring SIGTERM\nagent exited: code null signal SIGKILL\n$/);
  // Terminated instances stay visible for the retention, then are forgotten, as EC2 forgets them.
  await clock.advance(3_600_001);
  assert.deepEqual(await cloud.describePoolInstances("local-p"), []);
});

test("templates are kept in memory, any reference launches, prices are zero and every subnet is in zone local", async () => {
  const { cloud } = provider("exit0");
  const data = { imageId: "ami-local", userData: "# one" };
  const first = await cloud.ensureLaunchTemplate("spotferry-local-p", data);
  assert.deepEqual([first.version, first.created], ["1", true]);
  assert.deepEqual(await cloud.ensureLaunchTemplate("spotferry-local-p", { ...data }), { ...first, created: false });
  assert.equal((await cloud.ensureLaunchTemplate("spotferry-local-p", { ...data, userData: "# two" })).version, "2");
  // A reference an earlier run's provider wrote into the pool record still launches.
  const old = { id: "lt-local-earlier-1", name: "spotferry-local-p", version: "4", created: false };
  const req: LaunchRequest = {
    ...{ pool: "local-p", generation: 1, template: old, overrides: [], count: 1, onDemandCount: 1 },
    allocationStrategy: "lowest-price",
  };
  const launched = await cloud.launch(req);
  assert.equal(launched.instances.length, 1);
  assert.deepEqual(await cloud.spotPrices(["local.process"]), [
    { instanceType: "local.process", zone: "local", price: 0, at: Date.parse("2026-01-01T00:00:00Z") },
  ]);
  assert.deepEqual([cloud.onDemandPrice("local.process"), await cloud.zoneOfSubnet("subnet-anything")], [0, "local"]);
  await cloud.shutdown();
});
