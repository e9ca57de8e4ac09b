import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { type RunningSim, type StartSimOptions, startSim } from "../../sim/server.ts";

export { waitFor } from "./wait.ts";

/**
 * Starts a private sim for one test (random port, temp state dir) and real SDK clients pointed at it; everything,
 * including every instance process, is stopped and removed when the test ends.
 */
export async function testSim(t: TestContext, opts: StartSimOptions = {}) {
  const stateDir = mkdtempSync(join(tmpdir(), "spotferry-sim-"));
  const sim: RunningSim = await startSim({ timeScale: 0.01, stateDir, ...opts });
  t.after(async () => {
    await sim.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });
  const credentials = { accessKeyId: "test", secretAccessKey: "test" };
  const ec2 = new EC2Client({ region: "us-east-1", endpoint: sim.url, credentials, maxAttempts: 1 });
  const cloudwatch = new CloudWatchClient({ region: "us-east-1", endpoint: sim.url, credentials, maxAttempts: 1 });
  t.after(() => {
    ec2.destroy();
    cloudwatch.destroy();
  });
  return { sim, ec2, cloudwatch, stateDir };
}

export const b64 = (s: string) => Buffer.from(s).toString("base64");
