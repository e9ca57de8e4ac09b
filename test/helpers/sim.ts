import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { type RunningSim, type StartSimOptions, startSim } from "../../sim/server.ts";

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

/** Polls `check` every 25 ms until it returns a value (not undefined/false), or fails after `ms`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const b64 = (s: string) => Buffer.from(s).toString("base64");
