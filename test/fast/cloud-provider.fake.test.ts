import { FakeCloudProvider } from "../../controller/cloud/fake-provider.ts";
import { FakeClock } from "../../lib/clock.ts";
import { CONTRACT_WORLD, cloudProviderContract } from "../contract/cloud-provider.contract.ts";

// The CloudProvider contract against the in-memory fake: the same cases Ec2Provider passes over the sim.
cloudProviderContract("FakeCloudProvider", async () => {
  const clock = new FakeClock();
  const cloud = new FakeCloudProvider({
    clock,
    subnets: CONTRACT_WORLD.subnets,
    spotPrices: { "m5.large": 0.0392, "m6i.large": 0.0378, "m5.large|us-east-1b": 0.0416, "m6i.large|us-east-1b": 0.0401 },
    onDemandPrices: CONTRACT_WORLD.onDemandPrices,
  });
  const fake = cloud.controls;
  return {
    cloud,
    controls: {
      now: () => clock.now(),
      advance: (ms) => clock.advance(ms),
      interrupt: (id) => void fake.interrupt(id, 2_000),
      kill: (id) => fake.kill(id),
      setCapacity: (market, type, zone, available) => fake.setCapacity(market, type, zone, available),
      setSpotPrice: (type, zone, price) => fake.setSpotPrice(type, zone, price),
    },
  };
});
