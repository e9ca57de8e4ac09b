import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CreateLaunchTemplateCommand } from "@aws-sdk/client-ec2";
import { CreateSecretCommand, DeleteSecretCommand } from "@aws-sdk/client-secrets-manager";
import { exportSpec } from "../../config/export-spec.ts";
import { poolSpec } from "../../config/pool-spec.ts";
import { controllerSettings } from "../../config/settings.ts";
import { controllerPolicy, nodePolicy } from "../../controller/iam/policies.ts";
import { secretsManagerClient } from "../../lib/aws/secrets-manager.ts";
import type { PolicyDocument } from "../../lib/iam/policy-document.ts";
import { defaultGeography } from "../../sim/catalogue.ts";
import { ACCOUNT_ID } from "../../sim/iam/identities.ts";
import { b64, testSim } from "../helpers/sim.ts";
import { cli } from "../helpers/snapshot.ts";
import { tempBucket } from "../helpers/temp-bucket.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

/**
 * `spotferry doctor` against the local stack and a private sim whose VPC knows only its listed subnets: with the
 * table, buckets and secret this test creates and the two roles carrying the policies `iam policy` prints, every check
 * passes (exit 0). Then the setup is broken on purpose (table dropped, destination bucket dropped, secret deleted,
 * the node role without s3:PutObject, a pool subnet that does not exist) and doctor names each failing check and
 * exits 4 (ExitCode.checkFailed).
 */
const putRole = async (url: string, name: string, policy: PolicyDocument) => {
  const res = await fetch(`${url}/_sim/iam/roles/${name}`, { method: "PUT", body: JSON.stringify({ policy }) });
  assert.equal(res.status, 200, await res.text());
};

const line = (stdout: string, status: string, name: string) =>
  stdout.split("\n").find((l) => l.startsWith(status) && l.slice(6).startsWith(`${name} `)) ?? "";

test("doctor passes on a set-up account and names each failing check on a broken one", async (t) => {
  const geography = { ...defaultGeography("us-east-1"), onlyListedSubnets: true };
  const { sim, ec2, env } = await testSim(t, { geography, ssh: false });
  const table = await tempStateTable("doctor");
  const artifacts = await tempBucket("sf-doctor-art");
  const dest = await tempBucket("sf-doctor-out");
  const dir = mkdtempSync(join(tmpdir(), "spotferry-doctor-"));
  const sm = secretsManagerClient(env);
  const dropped = { table: false, dest: false };
  t.after(async () => {
    sm.destroy();
    if (!dropped.table) await table.drop();
    await artifacts.drop();
    if (!dropped.dest) await dest.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  const pool = `dr${Math.random().toString(36).slice(2, 8)}`;
  const roles = { controller: `${pool}-controller`, node: `${pool}-node` };
  const secret = await sm.send(
    new CreateSecretCommand({ Name: `spotferry/${pool}/mysql`, SecretString: JSON.stringify({ password: "pw" }) }),
  );

  const settings = controllerSettings.parse({ kind: "ControllerSettings", stateTable: table.tableName, artifactBucket: artifacts.bucket });
  // The second pool has no launch template yet (no controller has run for it): a RunInstances DryRun stands in.
  const fresh = `${pool}b`;
  const poolDoc = (subnets: string[], name = pool) =>
    poolSpec.parse({
      kind: "Pool",
      name,
      instanceTypes: ["m5.large", "c5.large"],
      subnets,
      imageId: "ami-0abc123",
      instanceProfileArn: `arn:aws:iam::${ACCOUNT_ID}:instance-profile/${roles.node}`,
      capacity: { max: 2 },
    });
  const exp = exportSpec.parse({
    kind: "Export",
    name: "orders",
    pool,
    source: { host: "db.internal", user: "reader", password: { secretArn: secret.ARN }, database: "shop", table: "orders" },
    destination: { bucket: dest.bucket, prefix: "exports/" },
  });
  const files = (subnets: string[]) => {
    const docs = { settings, pool: poolDoc(subnets), fresh: poolDoc(["subnet-c"], fresh), export: exp };
    return Object.entries(docs).flatMap(([name, doc]) => {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(doc));
      return ["--config", file];
    });
  };
  const attach = async (subnets: string[], node: (p: PolicyDocument) => PolicyDocument = (p) => p) => {
    const pools = [poolDoc(subnets), poolDoc(["subnet-c"], fresh)];
    const input = { settings, pools, exports: [exp], account: ACCOUNT_ID, region: "us-east-1" };
    await putRole(sim.url, roles.controller, controllerPolicy(input));
    await putRole(sim.url, roles.node, node(nodePolicy(input)));
  };
  // The controller has made the pool's launch template: the launch check is a CreateFleet DryRun with it.
  await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: `spotferry-${pool}`,
      LaunchTemplateData: {
        ImageId: "ami-0abc123",
        UserData: b64("#!/bin/bash\nsleep 60\n"),
        IamInstanceProfile: { Arn: `arn:aws:iam::${ACCOUNT_ID}:instance-profile/${roles.node}` },
      },
    }),
  );
  const doctor = (args: string[]) =>
    cli(["doctor", ...args, "--controller-role", `arn:aws:iam::${ACCOUNT_ID}:role/${roles.controller}`, "--timeout", "60s"], env);

  await attach(["subnet-a", "subnet-b"]);
  const good = await doctor(files(["subnet-a", "subnet-b"]));
  assert.equal(good.code, 0, `${good.stdout}\n${good.stderr}`);
  const lines = good.stdout.trimEnd().split("\n");
  for (const l of lines) assert.match(l, /^ok {4}/, `every check passes:\n${good.stdout}`);
  for (const name of [
    "credentials",
    "region",
    `state table ${table.tableName}`,
    `artifact bucket ${artifacts.bucket}`,
    "destination orders",
    "secret orders",
    "controller policy",
    "node policy",
    `pool ${pool} launch`,
    `pool ${pool} subnets`,
    `pool ${pool} image`,
    `pool ${fresh} launch`,
  ]) {
    assert.ok(line(good.stdout, "ok", name), `a line for ${name}:\n${good.stdout}`);
  }
  assert.match(line(good.stdout, "ok", `pool ${pool} launch`), /CreateFleet DryRun with launch template/);
  assert.match(line(good.stdout, "ok", `pool ${fresh} launch`), /RunInstances DryRun \(no launch template spotferry-\w+ yet/);
  assert.doesNotMatch(good.stdout, /"pw"|\bpw\b/, "the secret's value is never printed");
  const json = await doctor([...files(["subnet-a", "subnet-b"]), "--json"]);
  assert.equal(json.code, 0, json.stderr);
  assert.ok((JSON.parse(json.stdout) as { status: string }[]).every((r) => r.status === "ok"));

  // Break it: each of these must show up as its own FAIL line.
  await table.drop();
  dropped.table = true;
  await dest.drop();
  dropped.dest = true;
  await sm.send(new DeleteSecretCommand({ SecretId: secret.ARN, ForceDeleteWithoutRecovery: true }));
  const broken = ["subnet-a", "subnet-0dead"];
  await attach(broken, (p) => ({ ...p, Statement: p.Statement.filter((s) => s.Sid !== "WriteChunkObjects") }));
  const bad = await doctor(files(broken));
  assert.equal(bad.code, 4, `${bad.stdout}\n${bad.stderr}`);
  const out = bad.stdout;
  assert.match(line(out, "FAIL", `state table ${table.tableName}`), /does not exist in us-east-1/);
  assert.match(line(out, "FAIL", "destination orders"), new RegExp(`bucket ${dest.bucket} does not exist`));
  assert.match(line(out, "FAIL", "secret orders"), /does not exist/);
  assert.match(
    line(out, "FAIL", "node policy"),
    new RegExp(
      `s3:PutObject on arn:aws:s3:::${dest.bucket}/exports/doctor/data/part-doctor \\(implicitDeny, statement WriteChunkObjects\\)`,
    ),
  );
  assert.match(line(out, "FAIL", `pool ${pool} subnets`), /subnet-0dead not found in us-east-1/);
  assert.match(line(out, "FAIL", `pool ${pool} launch`), /InvalidSubnetID\.NotFound/);
  // What was not broken still passes.
  for (const name of [
    "credentials",
    "region",
    `artifact bucket ${artifacts.bucket}`,
    "controller policy",
    `pool ${pool} image`,
    `pool ${fresh} launch`,
  ]) {
    assert.ok(line(out, "ok", name), `${name} still ok:\n${out}`);
  }
});
