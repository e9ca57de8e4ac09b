import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import {
  type CloudInstance,
  type CloudProvider,
  type LaunchRequest,
  type LaunchTemplateRef,
  type Market,
  SPOT_TERMINATION_REASON,
} from "../../controller/cloud/cloud-provider.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The CloudProvider contract (controller/cloud/cloud-provider.ts): every backend runs these cases, each over a
 * backend of its own. What the port cannot do (reclaim an instance, run a pool short, move a price, move time) a
 * backend offers through `controls`, each the way its world does it (sim/chaos.ts for the sim, the fake's controls).
 * Every backend is set up over CONTRACT_WORLD, the market the cases assume.
 */
export interface CloudControls {
  now(): number;
  /** Moves the backend's clock and lets it react (the sim's timers run on it, and its boot awaits real I/O). */
  advance(ms: number): Promise<void>;
  /** A spot interruption: after a short notice the instance shuts down with Server.SpotInstanceTermination. */
  interrupt(instanceId: string): void;
  /** The host dies without notice. */
  kill(instanceId: string): void;
  /** At most `available` more live instances of (market, type, zone); undefined lifts the limit. */
  setCapacity(market: Market, instanceType: string, zone: string, available: number | undefined): void;
  /** A new spot price point for (type, zone) at the clock's now. */
  setSpotPrice(instanceType: string, zone: string, price: number): void;
}

export interface CloudBackend {
  cloud: CloudProvider;
  controls: CloudControls;
}

/** The market every backend is opened on: these subnets in these zones, on-demand prices known for these types. */
export const CONTRACT_WORLD = {
  subnets: { "subnet-a": "us-east-1a", "subnet-b": "us-east-1b", "subnet-c": "us-east-1c" },
  types: ["m5.large", "m6i.large"],
  onDemandPrices: { "m5.large": 0.096, "m6i.large": 0.096 },
};

const A = "us-east-1a";
const B = "us-east-1b";
/** cloud-config is not run by the sim: no node process to wait for, and the fake never runs anything. */
const userData = (n: string) => `#cloud-config\n# contract ${n}\n`;

/** A case a backend is known to fail; a backend names it in `knownGaps` with the reason, and it runs as a todo. */
export const SAME_POOL_MARKETS = "on-demand and spot instances launched from the same pool are each reported with their own market";

export interface ContractOptions {
  knownGaps?: Partial<Record<typeof SAME_POOL_MARKETS, string>>;
}

export function cloudProviderContract(name: string, open: (t: TestContext) => Promise<CloudBackend>, options: ContractOptions = {}): void {
  let seq = 0;
  const template = (cloud: CloudProvider, tags?: Record<string, string>) =>
    cloud.ensureLaunchTemplate(`spotferry-contract-${++seq}`, { imageId: "ami-0contract", userData: userData("t"), tags });
  const request = (ref: LaunchTemplateRef, extra: Partial<LaunchRequest>): LaunchRequest => ({
    pool: "contract",
    generation: 1,
    template: ref,
    overrides: [{ instanceType: "m5.large", subnetId: "subnet-a" }],
    count: 1,
    onDemandCount: 0,
    allocationStrategy: "lowest-price",
    ...extra,
  });
  const byId = async (cloud: CloudProvider, pool = "contract") =>
    new Map((await cloud.describePoolInstances(pool)).map((i) => [i.instanceId, i]));
  /** Steps the backend's clock a second at a time until `check` holds. */
  const until = async <T>(c: CloudControls, what: string, check: () => Promise<T | undefined | false>): Promise<T> => {
    for (let i = 0; i < 150; i++) {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      await c.advance(1_000);
    }
    throw new Error(`gave up waiting for ${what}`);
  };
  /** Pins an order for lowest-price: m5.large 1a < m5.large 1b < m6i.large 1a < m6i.large 1b. */
  const pinPrices = async (c: CloudControls) => {
    await c.advance(1_000);
    for (const [type, zone, price] of [
      ["m5.large", A, 0.02],
      ["m5.large", B, 0.03],
      ["m6i.large", A, 0.04],
      ["m6i.large", B, 0.05],
    ] as const)
      c.setSpotPrice(type, zone, price);
  };
  const where = (i: { instanceType: string; zone: string; market: string }) => `${i.market} ${i.instanceType}@${i.zone}`;
  const short = (r: {
    errors: { code: string; market: string; instanceType: string | null; subnetId: string | null; zone: string | null }[];
  }) => r.errors.map((e) => [e.code, e.market, e.instanceType, e.subnetId, e.zone].join(" ")).sort();

  describe(`CloudProvider contract: ${name}`, () => {
    test("ensureLaunchTemplate is idempotent by content and adds versions to one template", async (t) => {
      const { cloud } = await open(t);
      const data = (n: string) => ({ imageId: "ami-0contract", userData: userData(n), tags: { tier: n } });
      const first = await cloud.ensureLaunchTemplate("spotferry-versions", data("one"));
      assert.deepEqual({ ...first, id: "" }, { id: "", name: "spotferry-versions", version: "1", created: true });
      assert.ok(first.id);
      assert.deepEqual(await cloud.ensureLaunchTemplate("spotferry-versions", data("one")), { ...first, created: false });
      const second = await cloud.ensureLaunchTemplate("spotferry-versions", data("two"));
      assert.deepEqual(second, { ...first, version: "2", created: true }, "changed data: a new version of the same template");
      assert.deepEqual(await cloud.ensureLaunchTemplate("spotferry-versions", data("two")), { ...second, created: false });
      // Only the latest version is compared: going back to earlier data is a new version, not a rollback.
      assert.equal((await cloud.ensureLaunchTemplate("spotferry-versions", data("one"))).version, "3");
      const other = await cloud.ensureLaunchTemplate("spotferry-other", data("one"));
      assert.notEqual(other.id, first.id);
      assert.equal(other.version, "1");

      // Each launch uses the version it names: its tags are that version's.
      for (const [ref, tier] of [
        [first, "one"],
        [second, "two"],
      ] as const) {
        const { instances } = await cloud.launch(request(ref, { pool: `versions-${tier}` }));
        const described = await byId(cloud, `versions-${tier}`);
        assert.equal(described.get(instances[0]?.instanceId ?? "")?.tags.tier, tier);
      }
    });

    test("launch tags every instance with pool, generation, export, the request's and the template's tags", async (t) => {
      const { cloud } = await open(t);
      const ref = await template(cloud, { tier: "t" });
      const req = request(ref, { count: 2, generation: 3, exportId: "e-1", tags: { team: "data" } });
      const { instances, errors } = await cloud.launch({ ...req, overrides: [{ instanceType: "m6i.large", subnetId: "subnet-b" }] });
      assert.deepEqual(errors, []);
      assert.deepEqual(
        instances.map((i) => [i.instanceType, i.subnetId, i.zone, i.market]),
        [
          ["m6i.large", "subnet-b", B, "spot"],
          ["m6i.large", "subnet-b", B, "spot"],
        ],
      );
      const described = await waitFor("the instances to be described", async () => {
        const m = await byId(cloud);
        return instances.every((i) => m.has(i.instanceId)) && m;
      });
      for (const i of instances) {
        const tags = described.get(i.instanceId)?.tags ?? {};
        const wanted = { "spotferry:pool": "contract", "spotferry:generation": "3", "spotferry:export": "e-1", team: "data", tier: "t" };
        assert.deepEqual(Object.fromEntries(Object.keys(wanted).map((k) => [k, tags[k]])), wanted);
      }
      const bare = await cloud.launch(request(ref, { pool: "contract-bare" }));
      const tags = (await byId(cloud, "contract-bare")).get(bare.instances[0]?.instanceId ?? "")?.tags ?? {};
      assert.equal(tags["spotferry:export"], undefined, "no export tag without an export");
      assert.equal(tags["spotferry:pool"], "contract-bare");
    });

    test("a capacity shortage falls over to other pools and is reported per (market, type, zone), never thrown", async (t) => {
      const { cloud, controls: c } = await open(t);
      await pinPrices(c);
      const ref = await template(cloud);
      const overrides = [
        { instanceType: "m5.large", subnetId: "subnet-a" },
        { instanceType: "m5.large", subnetId: "subnet-b" },
        { instanceType: "m6i.large", subnetId: "subnet-a" },
      ];
      c.setCapacity("spot", "m5.large", A, 0);
      const first = await cloud.launch(request(ref, { count: 3, overrides }));
      assert.deepEqual(first.instances.map(where), Array(3).fill(`spot m5.large@${B}`), "the next cheapest pool takes all");
      assert.deepEqual(short(first), [`InsufficientInstanceCapacity spot m5.large subnet-a ${A}`]);

      // 1b now holds one more: the fleet takes it and the rest from the next pool; both short pools are reported.
      c.setCapacity("spot", "m5.large", B, 4);
      const second = await cloud.launch(request(ref, { count: 2, overrides }));
      assert.deepEqual(second.instances.map(where), [`spot m5.large@${B}`, `spot m6i.large@${A}`]);
      assert.deepEqual(short(second), [
        `InsufficientInstanceCapacity spot m5.large subnet-a ${A}`,
        `InsufficientInstanceCapacity spot m5.large subnet-b ${B}`,
      ]);

      // Everything is short: no instances, one error per pool tried, still an answer.
      c.setCapacity("spot", "m6i.large", A, 1);
      const none = await cloud.launch(request(ref, { overrides }));
      assert.deepEqual(none.instances, []);
      assert.equal(short(none).length, 3);
      assert.ok(none.errors.every((e) => e.code === "InsufficientInstanceCapacity" && e.market === "spot"));

      // On-demand has capacity pools of its own, tried in request order between equal prices.
      c.setCapacity("on-demand", "m5.large", A, 0);
      const od = await cloud.launch(request(ref, { onDemandCount: 1, overrides: overrides.slice(0, 2) }));
      assert.deepEqual(od.instances.map(where), [`on-demand m5.large@${B}`]);
      assert.deepEqual(short(od), [`InsufficientInstanceCapacity on-demand m5.large subnet-a ${A}`]);

      // An override the market does not offer is reported for it too, and the others still launch.
      const odd = await cloud.launch(
        request(ref, {
          overrides: [
            { instanceType: "x9.nonesuch", subnetId: "subnet-c" },
            ...overrides,
            { instanceType: "m6i.large", subnetId: "subnet-b" },
          ],
        }),
      );
      assert.deepEqual(odd.instances.map(where), [`spot m6i.large@${B}`]);
      assert.ok(odd.errors.some((e) => e.instanceType === "x9.nonesuch" && e.market === "spot" && !e.code.startsWith("Insufficient")));
    });

    test("onDemandCount of the count is on-demand and the rest spot; a count of 0 launches nothing", async (t) => {
      const { cloud, controls: c } = await open(t);
      await pinPrices(c);
      const ref = await template(cloud);
      // On-demand prices are equal, so on-demand takes the first override; spot takes the cheapest, m5.large in 1a.
      const overrides = [
        { instanceType: "m6i.large", subnetId: "subnet-b" },
        { instanceType: "m5.large", subnetId: "subnet-a" },
      ];
      const mixed = await cloud.launch(request(ref, { count: 3, onDemandCount: 1, overrides }));
      assert.deepEqual(mixed.instances.map(where).sort(), [`on-demand m6i.large@${B}`, `spot m5.large@${A}`, `spot m5.large@${A}`]);
      const described = await byId(cloud);
      for (const i of mixed.instances) assert.equal(described.get(i.instanceId)?.market, i.market);
      const capped = await cloud.launch(request(ref, { count: 2, onDemandCount: 5 }));
      assert.deepEqual(
        capped.instances.map((i) => i.market),
        ["on-demand", "on-demand"],
      );
      assert.deepEqual(await cloud.launch(request(ref, { count: 0 })), { instances: [], errors: [] });
    });

    test("launch with a clientToken is idempotent: the same request answers the same instances, another one throws", async (t) => {
      const { cloud } = await open(t);
      const ref = await template(cloud);
      const ask = request(ref, { count: 2, clientToken: `contract-token-${++seq}` });
      const first = await cloud.launch(ask);
      assert.equal(first.instances.length, 2);
      const again = await cloud.launch({ ...ask });
      assert.deepEqual(again.instances.map((i) => i.instanceId).sort(), first.instances.map((i) => i.instanceId).sort());
      assert.equal((await byId(cloud)).size, 2, "the repeat launched nothing");
      await assert.rejects(cloud.launch({ ...ask, count: 3 }), (err: Error) => {
        assert.equal((err.cause as Error | undefined)?.name, "IdempotentParameterMismatch");
        return true;
      });
      const other = await cloud.launch({ ...ask, clientToken: `contract-token-${++seq}` });
      assert.equal(other.instances.length, 2, "a new token is a new launch");
    });

    test(SAME_POOL_MARKETS, { todo: options.knownGaps?.[SAME_POOL_MARKETS] }, async (t) => {
      const { cloud } = await open(t);
      const ref = await template(cloud);
      const { instances } = await cloud.launch(request(ref, { count: 3, onDemandCount: 1 }));
      const described = await byId(cloud);
      assert.deepEqual(instances.map((i) => [i.market, described.get(i.instanceId)?.market]).sort(), [
        ["on-demand", "on-demand"],
        ["spot", "spot"],
        ["spot", "spot"],
      ]);
    });

    test("spotPrices gives the latest price per (type, zone); a cap below it is SpotMaxPriceTooLow", async (t) => {
      const { cloud, controls: c } = await open(t);
      const zoned = await cloud.spotPrices(CONTRACT_WORLD.types, [A, B]);
      const pairs = zoned.map((p) => `${p.instanceType}@${p.zone}`).sort();
      assert.deepEqual(pairs, [`m5.large@${A}`, `m5.large@${B}`, `m6i.large@${A}`, `m6i.large@${B}`]);
      assert.ok(zoned.every((p) => p.price > 0 && p.at <= c.now()));
      const all = (await cloud.spotPrices(CONTRACT_WORLD.types)).map((p) => `${p.instanceType}@${p.zone}`);
      assert.ok(
        pairs.every((p) => all.includes(p)),
        "all zones when none are named",
      );

      await c.advance(60_000);
      c.setSpotPrice("m5.large", A, 0.5);
      assert.deepEqual(await cloud.spotPrices(["m5.large"], [A]), [{ instanceType: "m5.large", zone: A, price: 0.5, at: c.now() }]);
      const ref = await template(cloud);
      const capped = await cloud.launch(request(ref, { overrides: [{ instanceType: "m5.large", subnetId: "subnet-a", maxPrice: 0.1 }] }));
      assert.deepEqual(capped.instances, []);
      assert.deepEqual(short(capped), [`SpotMaxPriceTooLow spot m5.large subnet-a ${A}`]);

      assert.equal(cloud.onDemandPrice("m5.large"), CONTRACT_WORLD.onDemandPrices["m5.large"]);
      assert.equal(cloud.onDemandPrice("x9.nonesuch"), null);
    });

    test("instances go pending -> running -> shutting-down -> terminated on the clock, with their reasons, then vanish", async (t) => {
      const { cloud, controls: c } = await open(t);
      const ref = await template(cloud);
      const { instances } = await cloud.launch(request(ref, { count: 3 }));
      await cloud.launch(request(ref, { pool: "contract-other" }));
      const [stopped, reclaimed, killed] = instances.map((i) => i.instanceId);
      assert.ok(stopped && reclaimed && killed);
      const launched = await waitFor("the instances to be described", async () => {
        const m = await byId(cloud);
        return m.size === 3 && m;
      });
      for (const i of launched.values()) {
        assert.deepEqual([i.state, i.stateReason, i.instanceType, i.zone, i.market], ["pending", null, "m5.large", A, "spot"]);
        assert.ok(Math.abs(i.launchedAt - c.now()) < 1_000, "launchedAt is the clock's now");
      }
      await until(c, "all three running", async () => [...(await byId(cloud)).values()].every((i) => i.state === "running"));

      await cloud.terminate([stopped]);
      const state = async (id: string) => (await byId(cloud)).get(id);
      assert.deepEqual(pick(await state(stopped)), ["shutting-down", "Client.UserInitiatedShutdown"]);
      c.interrupt(reclaimed);
      c.kill(killed);
      await until(c, "all three terminated", async () => [...(await byId(cloud)).values()].every((i) => i.state === "terminated"));
      assert.deepEqual(pick(await state(stopped)), ["terminated", "Client.UserInitiatedShutdown"], "the reason is kept");
      assert.deepEqual(pick(await state(reclaimed)), ["terminated", SPOT_TERMINATION_REASON]);
      assert.equal((await state(killed))?.state, "terminated");

      // EC2 keeps reporting terminated instances for about an hour.
      await c.advance(20 * 60_000);
      assert.equal((await byId(cloud)).size, 3);
      await c.advance(2 * 3_600_000);
      assert.equal((await byId(cloud)).size, 0);
      assert.equal((await byId(cloud, "contract-other")).size, 1, "another pool's instance is another pool's");
    });

    test("terminate is idempotent: repeated, already terminated and unknown ids are skipped silently", async (t) => {
      const { cloud, controls: c } = await open(t);
      const ref = await template(cloud);
      const { instances } = await cloud.launch(request(ref, { count: 2 }));
      const [a, b] = instances.map((i) => i.instanceId);
      assert.ok(a && b);
      await cloud.terminate([a]);
      await cloud.terminate([a, "i-0123456789abcdef0", b]);
      await cloud.terminate([]);
      const states = async () => [...(await byId(cloud)).values()].map((i) => i.state);
      assert.deepEqual(await states(), ["shutting-down", "shutting-down"], "the unknown id did not stop the others");
      await until(c, "both terminated", async () => (await states()).every((s) => s === "terminated"));
      await cloud.terminate([a, b]);
      assert.deepEqual(pick((await byId(cloud)).get(a)), ["terminated", "Client.UserInitiatedShutdown"]);
    });

    test("zoneOfSubnet answers a subnet's zone and throws for an unknown subnet; a missing template throws", async (t) => {
      const { cloud } = await open(t);
      assert.equal(await cloud.zoneOfSubnet("subnet-b"), B);
      assert.equal(await cloud.zoneOfSubnet("subnet-b"), B, "cached, same answer");
      await assert.rejects(cloud.zoneOfSubnet("not-a-subnet"), /not-a-subnet/);
      // Not a market outcome but a broken request: an Error saying what was being done.
      const ghost = { id: "lt-0123456789abcdef0", name: "ghost", version: "1", created: false };
      await assert.rejects(cloud.launch(request(ghost, {})), /launching 1 instances for pool contract/);
    });
  });
}

const pick = (i: CloudInstance | undefined) => [i?.state, i?.stateReason];
