import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, type TestContext, test } from "node:test";
import {
  CreateFleetCommand,
  CreateLaunchTemplateCommand,
  type EC2Client,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
  buildAgentBundle,
  HostKeyMismatchError,
  NodeSession,
  type NodeSshTarget,
  type PublishedBundle,
  presignBundle,
  publishAgentBundle,
  renderLaunchTemplateData,
  renderUserData,
  runOnNode,
  trustedHostKey,
} from "../../bootstrap/index.ts";
import { loadNodeRuntime, type PublishedRuntime, publishNodeRuntime } from "../../bootstrap/runtime.ts";
import { tarGz } from "../../bootstrap/tar.ts";
import { poolSpec } from "../../config/pool-spec.ts";
import { IMAGE_TOOLS, imagePath } from "../../sim/processes.ts";
import { requireEnv } from "../helpers/env.ts";
import { testSim, waitFor } from "../helpers/sim.ts";
import { tempBucket } from "../helpers/temp-bucket.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/**
 * A sim node boots from the user-data rendered for EC2: its image has no Node, so it fetches the published Node runtime
 * and bundle through presigned URLs, verifies their SHA-256, runs the agent (against an empty state table it idles out of at once) and stops cleanly; its
 * console shows its SSH host key, which is what ssh2 trusts; a tampered bundle or runtime is refused.
 */
let s3: Awaited<ReturnType<typeof tempBucket>>;
let table: Awaited<ReturnType<typeof tempStateTable>>;
let published: PublishedBundle;
let runtime: PublishedRuntime;
let archive: Buffer;

before(async () => {
  [s3, table] = await Promise.all([tempBucket("sf-node"), tempStateTable("bootstrap")]);
  const bundle = await buildAgentBundle();
  archive = bundle.archive;
  published = await publishAgentBundle({ s3: s3.s3, bucket: s3.bucket, bundle });
  const node = await loadNodeRuntime({ architecture: process.arch === "arm64" ? "arm64" : "x86_64" });
  runtime = await publishNodeRuntime({ s3: s3.s3, bucket: s3.bucket, runtime: node });
});
after(async () => {
  await s3?.drop();
  await table?.drop();
});

const pool = poolSpec.parse({
  kind: "Pool",
  name: "boot",
  instanceTypes: ["c6i.large"],
  subnets: ["subnet-a"],
  imageId: "ami-0123456789abcdef0",
  securityGroupIds: ["sg-0123"],
  instanceProfileArn: "arn:aws:iam::000000000000:instance-profile/spotferry-node",
  capacity: { max: 2 },
});

async function userDataFor(url: string, runtimeAt: { bucket: string; key: string } = runtime): Promise<string> {
  return renderUserData({
    pool: pool.name,
    stateTable: table.tableName,
    region: "us-east-1",
    bundleUrl: url,
    bundleSha256: published.sha256,
    runtime: {
      url: await presignBundle(s3.s3, runtimeAt, { expiresInSeconds: 600 }),
      sha256: runtime.sha256,
      architecture: runtime.architecture,
      version: runtime.version,
    },
    env: { AWS_ENDPOINT_URL_S3: requireEnv("AWS_ENDPOINT_URL_S3"), AWS_ENDPOINT_URL_DYNAMODB: requireEnv("AWS_ENDPOINT_URL_DYNAMODB") },
    agentFlags: ["--idle-exit", "1s"],
  });
}

const consoleOf = async (ec2: EC2Client, id: string) =>
  Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? "", "base64").toString("utf8");

type Sim = Awaited<ReturnType<typeof testSim>>["sim"];
const exitOf = (sim: Sim, id: string) =>
  waitFor(
    `the user-data of ${id} to exit`,
    () => sim.world.events.list(0, ["user-data-exited"]).find((e) => e.instanceId === id)?.code as string | undefined,
    60_000,
  );

test("the sim's machine image offers the user-data's tools and no Node", () => {
  const dir = mkdtempSync(join(tmpdir(), "sf-image-"));
  try {
    const PATH = imagePath(dir);
    const which = (tool: string) => spawnSync("bash", ["-c", `command -v ${tool}`], { env: { PATH }, encoding: "utf8" }).status;
    assert.notEqual(which("node"), 0, "no node on the image's PATH");
    for (const tool of ["curl", "tar", "gzip", "sha256sum", "ssh-keygen"]) assert.equal(which(tool), 0, tool);
    assert.ok(IMAGE_TOOLS.every((t) => !/node|npm/.test(t)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a sim node runs the rendered user-data: runtime and bundle verified, agent started and stopped cleanly, reachable by ssh", async (t) => {
  // The pool's instance profile names a role the sim must know, or the launch fails as on EC2; the node reaches the
  // stack's DynamoDB directly (the user-data's endpoints), so the role needs no policy the sim would enforce.
  const { ec2, sim } = await testSim(t, { timeScale: 0.01, bootDelaySec: 1, roles: { "spotferry-node": null } });
  const userData = await userDataFor(await presignBundle(s3.s3, published, { expiresInSeconds: 600 }));
  const data = renderLaunchTemplateData(pool, Buffer.from(userData).toString("base64"), { generation: 1 });
  await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: "boot", LaunchTemplateData: data }));
  const fleet = await ec2.send(
    new CreateFleetCommand({
      Type: "instant",
      LaunchTemplateConfigs: [
        {
          LaunchTemplateSpecification: { LaunchTemplateName: "boot", Version: "$Latest" },
          Overrides: [{ InstanceType: "c6i.large", SubnetId: "subnet-a" }],
        },
      ],
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: "spot" },
    }),
  );
  const id = fleet.Instances?.[0]?.InstanceIds?.[0] ?? assert.fail(`no instance: ${JSON.stringify(fleet.Errors)}`);
  const inst = sim.world.instances.get(id) ?? assert.fail("the sim does not know the instance");

  assert.equal(await exitOf(sim, id), "0", "the agent exited cleanly (exec: the user-data's exit is the agent's)");
  const console = await consoleOf(ec2, id);
  assert.match(console, /spotferry-bootstrap: agent bundle verified and installed/);
  // Its Node is the published runtime: fetched from S3, checked, run from the node's own folder.
  const nodeBin = join(inst.dir, "spotferry", "runtime", runtime.sha256, "bin", "node");
  assert.match(console, new RegExp(`fetching Node\\.js ${runtime.version.replaceAll(".", "\\.")} \\(${runtime.architecture}\\)`));
  assert.ok(console.includes(`node v${runtime.version} at ${nodeBin}`), console);
  assert.match(console, /no systemd: running the agent in the foreground/);
  assert.match(console, new RegExp(`agent ${id} exiting \\(idle\\)`), "the agent took its node id from IMDSv2");
  assert.ok(existsSync(join(inst.dir, "spotferry", "agent", published.sha256, "spotferry-agent.mjs")));
  assert.deepEqual(JSON.parse(readFileSync(join(inst.dir, "spotferry", "etc", "agent.json"), "utf8")), {
    kind: "AgentSettings",
    pool: "boot",
    stateTable: table.tableName,
  });

  // The trusted key comes from the console (GetConsoleOutput), and matches the sshd's own key.
  const sshd = inst.sshd ?? assert.fail("the sim started no sshd");
  const trusted = (await trustedHostKey(ec2, id)) ?? assert.fail("no host key on the console");
  const local = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", sshd.hostKeyFile], { encoding: "utf8" });
  assert.equal(trusted.algorithm, "ED25519");
  assert.equal(local.split(" ")[1], trusted.sha256);

  const target: NodeSshTarget = {
    host: sshd.host,
    port: sshd.port,
    username: sshd.username,
    privateKey: readFileSync(sshd.identityFile),
    hostKey: trusted,
  };
  const ok = await runOnNode(target, 'echo ok; echo "$SPOTFERRY_NODE_DIR"');
  assert.equal(ok.code, 0);
  assert.equal(ok.stdout, `ok\n${inst.dir}\n`);

  const session = await NodeSession.connect(target);
  t.after(() => session.close());
  const stop = new AbortController();
  const lines: string[] = [];
  await session.streamAgentLog({
    signal: stop.signal,
    onLine: (l) => {
      lines.push(l);
      if (/exiting \(idle\)/.test(l)) stop.abort();
    },
  });
  assert.ok(
    lines.some((l) => l.includes(`agent ${id} exiting (idle)`)),
    lines.join("\n"),
  );

  const wrong = { ...target, hostKey: { algorithm: "ED25519", sha256: `SHA256:${"A".repeat(43)}` } };
  await assert.rejects(runOnNode(wrong, "echo should-not-run"), (err: Error) => {
    assert.ok(err instanceof HostKeyMismatchError, String(err));
    assert.match(err.message, new RegExp(`host key is ${trusted.sha256.replace(/[+/]/g, "\\$&")}, not the trusted`));
    return true;
  });

  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  await waitFor("termination", () => sim.world.instances.get(id)?.state === "terminated");
  await assert.rejects(runOnNode(target, "echo gone"), /connecting to/, "the sshd died with the instance");
});

/** Boots one instance from `userData` in a private sim and waits for its user-data to fail: its console and folder. */
async function bootRefused(t: TestContext, userData: string): Promise<{ console: string; dir: string }> {
  const { ec2, sim } = await testSim(t, { timeScale: 0.01, bootDelaySec: 1, ssh: false });
  const run = await ec2.send(
    new RunInstancesCommand({
      ImageId: pool.imageId,
      InstanceType: "c6i.large",
      MinCount: 1,
      MaxCount: 1,
      UserData: Buffer.from(userData).toString("base64"),
    }),
  );
  const id = run.Instances?.[0]?.InstanceId ?? assert.fail("no instance");
  assert.equal(await exitOf(sim, id), "1");
  const console = await consoleOf(ec2, id);
  return { console, dir: sim.world.instances.get(id)?.dir ?? "" };
}

test("a node refuses a Node runtime whose SHA-256 does not match", async (t) => {
  const key = `tampered/${runtime.key}`;
  const fake = tarGz([{ name: "node", data: Buffer.from("#!/bin/sh\necho v24.22.3\n"), mode: 0o755 }]);
  await s3.s3.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: fake }));
  const userData = await userDataFor(await presignBundle(s3.s3, published), { bucket: s3.bucket, key });
  const { console, dir } = await bootRefused(t, userData);
  assert.match(
    console,
    new RegExp(`REFUSING to run the Node runtime: SHA-256 mismatch \\(expected ${runtime.sha256}, got [0-9a-f]{64}\\)`),
  );
  assert.doesNotMatch(console, /fetching agent bundle|exiting \(idle\)/);
  assert.ok(!existsSync(join(dir, "spotferry", "runtime", runtime.sha256)), "nothing was installed");
});

test("a node refuses a bundle whose SHA-256 does not match", async (t) => {
  const tampered = Buffer.from(archive);
  tampered[tampered.length >> 1] = (tampered[tampered.length >> 1] ?? 0) ^ 0xff;
  const key = `tampered/${published.key}`;
  await s3.s3.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: tampered }));
  const userData = await userDataFor(await presignBundle(s3.s3, { bucket: s3.bucket, key }));
  const { console, dir } = await bootRefused(t, userData);
  assert.match(
    console,
    new RegExp(`REFUSING to run the agent bundle: SHA-256 mismatch \\(expected ${published.sha256}, got [0-9a-f]{64}\\)`),
  );
  assert.doesNotMatch(console, /agent bundle verified|exiting \(idle\)/);
  assert.ok(!existsSync(join(dir, "spotferry", "agent", published.sha256)), "nothing was installed");
  assert.ok(!existsSync(join(dir, "spotferry", "agent.log")), "the agent never ran");
});
