import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parse } from "yaml";
import { type TemplateFlags, templateText } from "../../controller/cli/deploy-commands.ts";
import { policyInput } from "../../controller/cli/iam-commands.ts";
import { controllerPolicy, nodePolicy, type PolicyInput } from "../../controller/iam/policies.ts";
import { cli } from "../helpers/snapshot.ts";

/** `spotferry deploy template`: golden files, the roles' policies against `iam policy`'s builders, cfn-lint, bad input. */

const root = join(import.meta.dirname, "..", "..");
const fixtures = join(root, "test", "fixtures", "deploy");
const config = ["controller.yaml", "pool.yaml", "export.yaml"].map((f) => join(fixtures, f));
const relConfig = config.map((f) => f.slice(root.length + 1));
const PINNED: TemplateFlags = { config, account: "123456789012", region: "eu-west-1", output: "json" };

/** Compares with test/golden/<name>; writes it when missing or SPOTFERRY_UPDATE_SNAPSHOTS=1 (as matchSnapshot does). */
function matchGolden(name: string, text: string): void {
  const file = join(root, "test", "golden", name);
  if (process.env.SPOTFERRY_UPDATE_SNAPSHOTS === "1" || !existsSync(file)) {
    mkdirSync(join(root, "test", "golden"), { recursive: true });
    writeFileSync(file, text);
    return;
  }
  assert.equal(text, readFileSync(file, "utf8"), `output differs from test/golden/${name} (SPOTFERRY_UPDATE_SNAPSHOTS=1 to accept)`);
}

/** Undoes Fn::Sub (and its `${!` escape): what is left is the plain IAM document. */
function unSub(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unSub);
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === "Fn::Sub" && typeof o["Fn::Sub"] === "string") return o["Fn::Sub"].replaceAll("${!", "${");
    return Object.fromEntries(keys.map((k) => [k, unSub(o[k])]));
  }
  return value;
}

type Body = { Resources: Record<string, { Properties: Record<string, unknown> }> };
const policyOf = (body: Body, role: string) =>
  (body.Resources[role]?.Properties.Policies as { PolicyDocument: unknown }[] | undefined)?.[0]?.PolicyDocument;

/** The input `iam policy` builds for the same files, with the stack's pseudo-parameters where no account or region is given. */
async function unpinnedInput(): Promise<PolicyInput> {
  const input = await policyInput({ config, region: "*" });
  // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub placeholders, not JavaScript's
  return { ...input, account: "${AWS::AccountId}", region: "${AWS::Region}" };
}

describe("deploy template", () => {
  test("prints the golden template, YAML by default and JSON with -o json", async () => {
    matchGolden("deploy-template.yaml", await templateText({ config }));
    matchGolden("deploy-template-pinned.json", await templateText(PINNED));
  });

  test("each role's inline policy is exactly controllerPolicy / nodePolicy of the same input", async () => {
    const body = parse(await templateText({ config })) as Body;
    const input = await unpinnedInput();
    assert.deepEqual(unSub(policyOf(body, "ControllerRole")), controllerPolicy(input));
    assert.deepEqual(unSub(policyOf(body, "NodeRole")), nodePolicy(input));
    // The account and region of the stack, through Fn::Sub.
    assert.deepEqual(body.Resources.ControllerRole?.Properties.Policies, [
      { PolicyName: "spotferry-controller", PolicyDocument: policyOf(body, "ControllerRole") },
    ]);
    const table = JSON.stringify(policyOf(body, "NodeRole"));
    assert.match(table, /\{"Fn::Sub":"arn:aws:dynamodb:\$\{AWS::Region\}:\$\{AWS::AccountId\}:table\/spotferry-prod"\}/);

    const pinned = JSON.parse(await templateText(PINNED)) as Body;
    const pinnedInput = await policyInput({ config, account: "123456789012", region: "eu-west-1" });
    assert.deepEqual(policyOf(pinned, "ControllerRole"), controllerPolicy(pinnedInput));
    assert.deepEqual(policyOf(pinned, "NodeRole"), nodePolicy(pinnedInput));
    assert.doesNotMatch(JSON.stringify(policyOf(pinned, "ControllerRole")), /Fn::Sub/);
  });

  test("the state table as createStateTable makes it, with PITR; the node profile as the pools name it", async () => {
    const body = parse(await templateText({ config })) as Body;
    const t = body.Resources.StateTable?.Properties ?? {};
    assert.equal(t.TableName, "spotferry-prod");
    assert.equal(t.BillingMode, "PAY_PER_REQUEST");
    assert.deepEqual(t.KeySchema, [
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ]);
    assert.deepEqual(t.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
    assert.deepEqual(t.GlobalSecondaryIndexes, [
      {
        IndexName: "gsi1",
        KeySchema: [
          { AttributeName: "gsi1pk", KeyType: "HASH" },
          { AttributeName: "gsi1sk", KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: "ALL" },
      },
    ]);
    const profile = body.Resources.NodeInstanceProfile?.Properties ?? {};
    assert.deepEqual([profile.Path, profile.InstanceProfileName], ["/spotferry/", "spotferry-node"]);
    const bucket = body.Resources.ArtifactBucket?.Properties ?? {};
    assert.equal(bucket.BucketName, "acme-spotferry-artifacts");
    assert.ok(!("acme-analytics-exports" in body.Resources), "destination buckets are the user's");
  });

  const cfnLint = spawnSync("cfn-lint", ["--version"], { encoding: "utf8" });
  test("cfn-lint finds nothing in either form", { skip: cfnLint.status === 0 ? false : "cfn-lint is not on PATH" }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "spotferry-cfn-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    for (const [name, text] of [
      ["template.yaml", await templateText({ config })],
      ["template.json", await templateText(PINNED)],
    ] as const) {
      writeFileSync(join(dir, name), text);
      const r = spawnSync("cfn-lint", [join(dir, name)], { encoding: "utf8" });
      assert.equal(r.status, 0, `cfn-lint ${name}:\n${r.stdout}${r.stderr}`);
    }
  });

  test("the CLI prints the same template; bad input is one line naming the flag or field, exit 2", async () => {
    const ok = await cli(["deploy", "template", "--config", ...relConfig], {});
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, await templateText({ config }));
    for (const [args, message] of [
      [["-o", "xml"], /^error: -o: expected yaml or json, got "xml"$/],
      [["--account", "12"], /^error: --account: expected a 12-digit account id/],
      [["--region", "mars"], /^error: --region: expected a region like us-east-1/],
    ] as const) {
      const r = await cli(["deploy", "template", "--config", ...relConfig, ...args], {});
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr.trim(), message);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
    const noPool = await cli(["deploy", "template", "--config", relConfig[0]!, relConfig[2]!], {});
    assert.equal(noPool.code, 2);
    assert.match(noPool.stderr, /^error: --config: no Pool spec given/);
    const otherProfile = join(mkdtempSync(join(tmpdir(), "spotferry-pool-")), "pool2.yaml");
    writeFileSync(
      otherProfile,
      readFileSync(config[1]!, "utf8").replace("name: etl", "name: etl2").replace("spotferry/spotferry-node", "other-node"),
    );
    const split = await cli(["deploy", "template", "--config", ...relConfig, otherProfile], {});
    assert.equal(split.code, 2);
    assert.match(split.stderr, /^error: --config: instanceProfileArn: every Pool must name the same node instance profile/);
  });
});
