import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type ExportSpecInput, exportSpec } from "../../config/export-spec.ts";
import { poolSpec } from "../../config/pool-spec.ts";
import { controllerSettings } from "../../config/settings.ts";
import { policyInput } from "../../controller/cli/iam-commands.ts";
import { controllerPolicy, nodePolicy, type PolicyInput } from "../../controller/iam/policies.ts";
import { asList, type PolicyDocument, type PolicyStatement } from "../../lib/iam/policy-document.ts";
import { cli } from "../helpers/snapshot.ts";

const root = join(import.meta.dirname, "..", "..");
const examples = join(root, "config", "examples");

const pool = poolSpec.parse({
  kind: "Pool",
  name: "etl",
  instanceTypes: ["m6i.large"],
  subnets: ["subnet-0a", "subnet-0b"],
  imageId: "ami-0abc",
  securityGroupIds: ["sg-0a"],
  instanceProfileArn: "arn:aws:iam::123456789012:instance-profile/spotferry-node",
  capacity: { max: 4 },
});

const exportOf = (over: Partial<ExportSpecInput["source"]>, prefix = "calls/") =>
  exportSpec.parse({
    kind: "Export",
    name: "calls",
    pool: "etl",
    source: { user: "u", database: "d", table: "t", ...over },
    destination: { bucket: "exports-bucket", prefix },
  });

const input = (over: Partial<PolicyInput> = {}): PolicyInput => ({
  settings: controllerSettings.parse({ stateTable: "sf-state", artifactBucket: "sf-artifacts" }),
  pools: [pool],
  exports: [exportOf({ password: { secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf" } })],
  account: "123456789012",
  region: "us-east-1",
  ...over,
});

const bySid = (doc: PolicyDocument, sid: string): PolicyStatement => {
  const st = doc.Statement.find((s) => s.Sid === sid);
  assert.ok(st, `statement ${sid} in ${doc.Statement.map((s) => s.Sid).join(", ")}`);
  return st;
};
const actionsOf = (doc: PolicyDocument) => doc.Statement.flatMap((s) => asList(s.Action));

describe("controllerPolicy", () => {
  const doc = controllerPolicy(input());

  test("is an IAM document whose statements all have distinct Sids and no wildcard action", () => {
    assert.equal(doc.Version, "2012-10-17");
    const sids = doc.Statement.map((s) => s.Sid);
    assert.equal(new Set(sids).size, sids.length);
    assert.ok(sids.every((s) => s && /^[A-Za-z0-9]+$/.test(s)));
    for (const a of actionsOf(doc)) assert.doesNotMatch(a, /\*/);
  });

  test("DynamoDB is scoped to the state table and its indexes", () => {
    assert.equal(bySid(doc, "StateTable").Resource, "arn:aws:dynamodb:us-east-1:123456789012:table/sf-state");
    assert.deepEqual(bySid(doc, "StateTableIndexes"), {
      Sid: "StateTableIndexes",
      Effect: "Allow",
      Action: "dynamodb:Query",
      Resource: "arn:aws:dynamodb:us-east-1:123456789012:table/sf-state/index/*",
    });
    assert.ok(!actionsOf(doc).includes("dynamodb:TransactWriteItems"), "transactions are authorised per item");
    assert.deepEqual(asList(bySid(doc, "RareReplanDeletesPartitions").Action), ["dynamodb:DeleteItem"]);
  });

  test("S3 objects under the prefix, ListBucket only for the prefix, the bundle under spotferry/", () => {
    assert.deepEqual(bySid(doc, "ReadWriteExportOutput").Resource, ["arn:aws:s3:::exports-bucket/calls/*"]);
    const list = bySid(doc, "ListExportPrefixes");
    assert.equal(list.Resource, "arn:aws:s3:::exports-bucket");
    assert.deepEqual(list.Condition, { StringLike: { "s3:prefix": ["calls/*"] } });
    assert.equal(bySid(doc, "ReadAgentBundle").Resource, "arn:aws:s3:::sf-artifacts/spotferry/*");
    assert.equal(bySid(doc, "RarePublishChangedAgentBundle").Resource, "arn:aws:s3:::sf-artifacts/spotferry/*");
    assert.deepEqual(asList(bySid(doc, "RareAbortOrphanUploads").Action), ["s3:AbortMultipartUpload"]);
    assert.deepEqual(asList(bySid(doc, "RareDeleteOrphanObjects").Action), ["s3:DeleteObject"]);
  });

  test("EC2: tag conditions on launch and terminate, pool resources by id, PassRole for the node role to EC2 only", () => {
    assert.deepEqual(bySid(doc, "LaunchTaggedNodes").Condition, { StringEquals: { "aws:RequestTag/spotferry:pool": ["etl"] } });
    assert.deepEqual(bySid(doc, "TerminatePoolNodes").Condition, { StringEquals: { "ec2:ResourceTag/spotferry:pool": ["etl"] } });
    const launch = asList(bySid(doc, "LaunchFromPoolResources").Resource);
    for (const r of [
      "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0a",
      "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0b",
      "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0a",
      "arn:aws:ec2:us-east-1::image/ami-0abc",
    ])
      assert.ok(launch.includes(r), r);
    assert.ok(!launch.some((r) => r.endsWith("security-group/*")));
    assert.deepEqual(bySid(doc, "PassNodeRoleToEc2"), {
      Sid: "PassNodeRoleToEc2",
      Effect: "Allow",
      Action: "iam:PassRole",
      Resource: ["arn:aws:iam::123456789012:role/spotferry-node"],
      Condition: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
    });
    assert.deepEqual(bySid(doc, "PublishMetrics").Condition, { StringEquals: { "cloudwatch:namespace": "spotferry" } });
  });

  test("the password: GetSecretValue on exactly that ARN", () => {
    assert.deepEqual(bySid(doc, "ReadMysqlPasswordSecret"), {
      Sid: "ReadMysqlPasswordSecret",
      Effect: "Allow",
      Action: "secretsmanager:GetSecretValue",
      Resource: ["arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"],
    });
    assert.ok(!doc.Statement.some((s) => asList(s.Action).includes("kms:Decrypt")), "no key named: no kms grant");
  });

  test("without --account and region the ARNs take *; --node-role wins over the profile's name", () => {
    const open = controllerPolicy(input({ account: undefined, region: undefined, nodeRoleArn: "arn:aws:iam::123456789012:role/other" }));
    assert.equal(bySid(open, "StateTable").Resource, "arn:aws:dynamodb:*:*:table/sf-state");
    assert.deepEqual(bySid(open, "PassNodeRoleToEc2").Resource, ["arn:aws:iam::123456789012:role/other"]);
  });

  test("refuses input it cannot scope: no export, no pool", () => {
    assert.throws(() => controllerPolicy(input({ exports: [] })), /--config: no Export spec/);
    assert.throws(() => controllerPolicy(input({ pools: [] })), /--config: no Pool spec/);
  });
});

describe("nodePolicy", () => {
  const ssm = exportOf({ password: { ssmParameter: "/db/password", kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/k-1" } }, "");
  const doc = nodePolicy(input({ exports: [ssm] }));

  test("claims, heartbeats and checkpoints on the table, Query on the index only, no delete or scan", () => {
    assert.deepEqual(asList(bySid(doc, "StateTable").Action), ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]);
    assert.equal(bySid(doc, "StateTableIndexes").Resource, "arn:aws:dynamodb:us-east-1:123456789012:table/sf-state/index/*");
  });

  test("writes chunk objects only, and reads nothing from S3", () => {
    assert.deepEqual(bySid(doc, "WriteChunkObjects").Resource, ["arn:aws:s3:::exports-bucket/*/data/part-*"]);
    assert.ok(!actionsOf(doc).some((a) => /^s3:(Get|List|Delete)/.test(a)));
    assert.ok(!actionsOf(doc).some((a) => a.startsWith("ec2:") || a.startsWith("iam:")));
  });

  test("an SSM name becomes its parameter ARN; a customer key gets kms:Decrypt via SSM in its region", () => {
    assert.deepEqual(bySid(doc, "ReadMysqlPasswordParameter").Resource, ["arn:aws:ssm:us-east-1:123456789012:parameter/db/password"]);
    assert.deepEqual(bySid(doc, "DecryptMysqlPassword"), {
      Sid: "DecryptMysqlPassword",
      Effect: "Allow",
      Action: "kms:Decrypt",
      Resource: "arn:aws:kms:us-east-1:123456789012:key/k-1",
      Condition: { StringEquals: { "kms:ViaService": ["ssm.us-east-1.amazonaws.com"] } },
    });
  });
});

describe("SSE-KMS destinations", () => {
  const key = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-0000-4e5f-8a9b-0123456789ab";
  const withSse = (sse: unknown, name: string, prefix: string) =>
    exportSpec.parse({
      kind: "Export",
      name,
      pool: "etl",
      source: { user: "u", database: "d", table: "t" },
      destination: { bucket: "exports-bucket", prefix, sse },
    });
  const exports = [withSse({ type: "SSE-KMS", kmsKeyId: key }, "kms", "kms/"), withSse({ type: "SSE-S3" }, "s3", "s3/")];
  const expected = {
    Sid: "EncryptExportOutput",
    Effect: "Allow",
    Action: ["kms:Decrypt", "kms:GenerateDataKey"],
    Resource: key,
    Condition: { StringEquals: { "kms:ViaService": "s3.eu-west-1.amazonaws.com" } },
  };

  test("nodes (chunk uploads) and the controller (manifest, _SUCCESS, reads) may use exactly the key, via S3 in its region", () => {
    assert.deepEqual(bySid(nodePolicy(input({ exports })), "EncryptExportOutput"), expected);
    assert.deepEqual(bySid(controllerPolicy(input({ exports })), "EncryptExportOutput"), expected);
  });

  test("SSE-S3 and unencrypted destinations get no KMS grant", () => {
    const plain = input({ exports: [exports[1]!, exportOf({})] });
    for (const doc of [nodePolicy(plain), controllerPolicy(plain)]) assert.ok(!actionsOf(doc).some((a) => a.startsWith("kms:")));
  });
});

describe("spotferry iam policy", () => {
  const dir = mkdtempSync(join(tmpdir(), "spotferry-iam-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const settings = join(dir, "controller.yaml");
  writeFileSync(settings, "kind: ControllerSettings\nstateTable: sf-state\nartifactBucket: sf-artifacts\n");
  const files = [settings, join(examples, "spot-pool.yaml"), join(examples, "call-log-export.yaml")];

  test("prints the controller document as 2-space JSON", async () => {
    const r = await cli(["iam", "policy", "controller", "--config", ...files, "--account", "123456789012", "--region", "us-east-1"], {});
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as PolicyDocument;
    assert.match(r.stdout, /^\{\n {2}"Version": "2012-10-17",\n {2}"Statement": \[/);
    const same = await policyInput({ config: files, account: "123456789012", region: "us-east-1" });
    assert.deepEqual(doc, controllerPolicy(same));
  });

  test("prints the node document", async () => {
    const r = await cli(["iam", "policy", "node", "--config", ...files, "--region", "us-east-1"], {});
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as PolicyDocument;
    assert.deepEqual(bySid(doc, "WriteChunkObjects").Resource, ["arn:aws:s3:::analytics-exports/call-log/2021/*/data/part-*"]);
  });

  test("bad input is one line naming the field, exit 2", async () => {
    for (const [args, message] of [
      [["iam", "policy", "admin", "--config", ...files], /^error: role: expected controller or node, got "admin"\n$/],
      [["iam", "policy", "node", "--config", ...files, "--account", "12"], /^error: --account: expected a 12-digit account id/],
      [["iam", "policy", "node", "--config", settings], /^error: --config: no Export spec given/],
      [["iam", "policy", "node", "--config", join(dir, "missing.yaml")], /missing\.yaml.*file not found/],
    ] as const) {
      const r = await cli([...args], {});
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });
});
