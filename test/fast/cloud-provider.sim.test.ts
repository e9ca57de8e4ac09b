import { setTimeout as sleep } from "node:timers/promises";
import { Ec2Provider } from "../../controller/cloud/ec2-provider.ts";
import { FakeClock } from "../../lib/clock.ts";
import { CONTRACT_WORLD, cloudProviderContract } from "../contract/cloud-provider.contract.ts";
import { testSim } from "../helpers/sim.ts";

// The CloudProvider contract against the real backend (Ec2Provider over the AWS SDK) and a private in-process sim,
// so no service is needed. The sim runs on the test's FakeClock at time scale 1; its default geography has the
// contract's subnets (subnet-a..c in us-east-1a..c). Its boot awaits real I/O, hence the short real sleep per step.
cloudProviderContract("Ec2Provider over sim/", async (t) => {
  const clock = new FakeClock();
  const { sim, ec2 } = await testSim(t, { clock, timeScale: 1, ssh: false });
  const chaos = sim.world.chaos;
  return {
    cloud: new Ec2Provider({ ec2, clock, onDemandPrices: CONTRACT_WORLD.onDemandPrices }),
    controls: {
      now: () => clock.now(),
      advance: async (ms) => {
        await clock.advance(ms);
        await sleep(2);
      },
      interrupt: (id) => void chaos.interrupt(id, 2),
      kill: (id) => chaos.kill(id),
      setCapacity: (market, type, zone, available) => chaos.setCapacity(market, type, zone, available),
      setSpotPrice: (type, zone, price) => chaos.setPrice(type, zone, price),
    },
  };
});
