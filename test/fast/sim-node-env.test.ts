import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { RunInstancesCommand } from "@aws-sdk/client-ec2";
import { b64, testSim, waitFor } from "../helpers/sim.ts";

/**
 * A node's environment is what an EC2 instance has: no keys, tokens or passwords of the host (it learns its keys
 * from IMDS), no host PATH (the machine image has Node preinstalled in its own bin), only the region and endpoints.
 */
const PLANTED: Record<string, string> = {
  AWS_ACCESS_KEY_ID: "AKIAPLANTEDHOSTKEY01",
  AWS_SECRET_ACCESS_KEY: "planted-host-secret-value",
  AWS_SESSION_TOKEN: "planted-host-session-token",
  AWS_PROFILE: "planted-profile",
  SPOTFERRY_MYSQL_PASSWORD: "planted-mysql-password",
};

const USER_DATA = `#!/bin/bash
env > env.txt
for tool in node bash curl sha256sum tar ssh-keygen mktemp grep cut; do echo "$tool=$(command -v $tool)"; done > tools.txt
touch done
`;

test("a node gets no host credentials, secrets or PATH: only region, endpoints and what the sim sets", async (t) => {
  const saved = Object.fromEntries(Object.keys(PLANTED).map((k) => [k, process.env[k]]));
  Object.assign(process.env, PLANTED, {
    AWS_ENDPOINT_URL_KINESIS: "http://127.0.0.1:1/kinesis",
    AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
  });
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  const { sim, ec2 } = await testSim(t, { bootDelaySec: 0 });
  const run = await ec2.send(
    new RunInstancesCommand({
      MinCount: 1,
      MaxCount: 1,
      ImageId: "ami-0a1b2c3d4e5f60718",
      InstanceType: "c6i.large",
      UserData: b64(USER_DATA),
    }),
  );
  const id = run.Instances?.[0]?.InstanceId ?? assert.fail("no instance");
  const dir = join(sim.stateDir, "instances", id);
  await waitFor("the user-data to write its environment", () => existsSync(join(dir, "done")));

  const envText = readFileSync(join(dir, "env.txt"), "utf8");
  const env = Object.fromEntries(
    envText
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  for (const [name, value] of Object.entries(PLANTED)) {
    assert.equal(env[name], undefined, `${name} must not reach the node`);
    assert.ok(!envText.includes(value), `the value of ${name} must not reach the node`);
  }
  assert.deepEqual(
    Object.keys(env).filter(
      (k) => !k.startsWith("AWS_ENDPOINT_URL_") && /SECRET|PASSWORD|TOKEN|CREDENTIAL|PRIVATE|ACCESS_KEY|PROFILE/.test(k),
    ),
    [],
    "nothing that looks like a secret",
  );
  assert.equal(env.AWS_REGION, "us-east-1");
  assert.equal(env.AWS_ENDPOINT_URL_EC2, sim.url);
  assert.equal(env.AWS_ENDPOINT_URL_KINESIS, "http://127.0.0.1:1/kinesis", "endpoint URLs pass: on AWS they are the SDK's defaults");
  assert.equal(env.AWS_REQUEST_CHECKSUM_CALCULATION, "WHEN_REQUIRED");
  assert.match(env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? "", /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(env.SPOTFERRY_NODE_DIR, dir);
  assert.equal(env.HOME, dir);

  const path = (env.PATH ?? "").split(":");
  assert.deepEqual(path, [join(sim.stateDir, "image", "bin")], "the machine image's own bin, nothing of the host's");
  const tools = Object.fromEntries(
    readFileSync(join(dir, "tools.txt"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split("=") as [string, string]),
  );
  for (const [tool, where] of Object.entries(tools)) {
    if (tool === "node") assert.equal(where, "", "no Node in the image: nodes get theirs from the artifact bucket");
    else assert.equal(where, join(sim.stateDir, "image", "bin", tool), `the user-data's ${tool} is on the image's PATH`);
  }
});

test("instanceEnv refuses names that look like secrets", async (t) => {
  await assert.rejects(
    testSim(t, { instanceEnv: { SPOTFERRY_MYSQL_PASSWORD: "x" } }),
    /instanceEnv SPOTFERRY_MYSQL_PASSWORD looks like a secret/,
  );
  await assert.rejects(testSim(t, { instanceEnv: { MY_ACCESS_KEY: "x" } }), /looks like a secret/);
});
