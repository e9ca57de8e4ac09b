import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "../../sim/iam/sigv4.ts";
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
  // test/test, or the stack's own root key when SPOTFERRY_SIM_IDENTITIES names the stack's identities.
  const root = sim.world.iam.rootKey();
  const credentials = { accessKeyId: root.accessKeyId, secretAccessKey: root.secretAccessKey };
  const ec2 = new EC2Client({ region: "us-east-1", endpoint: sim.url, credentials, maxAttempts: 1 });
  const cloudwatch = new CloudWatchClient({ region: "us-east-1", endpoint: sim.url, credentials, maxAttempts: 1 });
  t.after(() => {
    ec2.destroy();
    cloudwatch.destroy();
  });
  // The standard environment of an SDK client acting as the account against this sim (every service it fronts).
  const env = { AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: root.accessKeyId, AWS_SECRET_ACCESS_KEY: root.secretAccessKey, ...sim.env };
  return { sim, ec2, cloudwatch, stateDir, root: credentials, env };
}

export const b64 = (s: string) => Buffer.from(s).toString("base64");

/**
 * A raw HTTP call signed with SigV4 by @smithy/signature-v4 (what any AWS client does), for wire-level tests:
 * POST `body` to `url` as `service` (ec2, monitoring, ...) with the given keys (testSim's `root` for the account's).
 */
export async function signedFetch(
  url: string,
  opts: {
    body: string;
    service: string;
    headers?: Record<string, string>;
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    region?: string;
  },
): Promise<Response> {
  const u = new URL(url);
  const signer = new SignatureV4({
    credentials: opts.credentials,
    region: opts.region ?? "us-east-1",
    service: opts.service,
    sha256: Sha256,
  });
  const signed = await signer.sign({
    method: "POST",
    protocol: u.protocol,
    hostname: u.hostname,
    port: Number(u.port),
    path: u.pathname,
    query: {},
    headers: { host: u.host, "content-type": "application/x-www-form-urlencoded", ...opts.headers },
    body: opts.body,
  });
  const { host: _host, ...headers } = signed.headers;
  return fetch(url, { method: "POST", headers, body: opts.body });
}
