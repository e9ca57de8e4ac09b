import assert from "node:assert/strict";
import { test } from "node:test";
import { IAMClient, SimulatePrincipalPolicyCommand } from "@aws-sdk/client-iam";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import type { PolicyDocument } from "../../lib/iam/policy-document.ts";
import { generatedIdentities } from "../../sim/iam/identities.ts";
import { testSim } from "../helpers/sim.ts";

/**
 * The sim's IAM query API and STS, through the real @aws-sdk/client-iam and client-sts: SimulatePrincipalPolicy
 * evaluates the role's attached policy (allowed, implicitDeny, explicitDeny; conditions from ContextEntries; one
 * result per action with each resource's decision), needs iam:SimulatePrincipalPolicy itself, and names unknown roles
 * as IAM does; GetCallerIdentity names root keys and role sessions.
 */
type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

const NODE: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [
    { Sid: "Chunks", Effect: "Allow", Action: "s3:PutObject", Resource: "arn:aws:s3:::out/exports/*" },
    { Sid: "NoSecrets", Effect: "Deny", Action: "s3:PutObject", Resource: "arn:aws:s3:::out/exports/secret/*" },
    {
      Sid: "Tagged",
      Effect: "Allow",
      Action: "ec2:RunInstances",
      Resource: "arn:aws:ec2:us-east-1:000000000000:instance/*",
      Condition: { StringEquals: { "aws:RequestTag/spotferry:pool": "etl" } },
    },
  ],
};
const CALLER: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "iam:SimulatePrincipalPolicy", Resource: "arn:aws:iam::000000000000:role/node" }],
};

async function session(url: string, role: string, sessionName: string): Promise<Creds> {
  const res = await fetch(`${url}/_sim/iam/roles/${role}/session`, { method: "POST", body: JSON.stringify({ sessionName }) });
  const s = (await res.json()) as { AccessKeyId: string; SecretAccessKey: string; Token: string };
  return { accessKeyId: s.AccessKeyId, secretAccessKey: s.SecretAccessKey, sessionToken: s.Token };
}

const iamWith = (url: string, credentials: Creds) => new IAMClient({ region: "us-east-1", endpoint: url, credentials, maxAttempts: 1 });

test("SimulatePrincipalPolicy: allowed, implicitDeny, explicitDeny, conditions and per-resource results", async (t) => {
  const { sim, root } = await testSim(t, { identities: generatedIdentities(), roles: { node: NODE } });
  const iam = iamWith(sim.url, root);
  t.after(() => iam.destroy());
  const simulate = (input: Partial<ConstructorParameters<typeof SimulatePrincipalPolicyCommand>[0]>) =>
    iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: "arn:aws:iam::000000000000:role/node", ActionNames: [], ...input }));

  const put = await simulate({
    ActionNames: ["s3:PutObject", "s3:GetObject"],
    ResourceArns: ["arn:aws:s3:::out/exports/e1/data/part-1", "arn:aws:s3:::out/exports/secret/x"],
  });
  assert.equal(put.IsTruncated, false);
  const [putObject, getObject] = put.EvaluationResults ?? [];
  assert.equal(putObject?.EvalActionName, "s3:PutObject");
  assert.equal(putObject?.EvalDecision, "explicitDeny", "the most restrictive decision over the resources");
  assert.deepEqual(
    putObject?.ResourceSpecificResults?.map((r) => [r.EvalResourceName, r.EvalResourceDecision]),
    [
      ["arn:aws:s3:::out/exports/e1/data/part-1", "allowed"],
      ["arn:aws:s3:::out/exports/secret/x", "explicitDeny"],
    ],
  );
  assert.equal(putObject?.ResourceSpecificResults?.[0]?.MatchedStatements?.[0]?.SourcePolicyType, "role");
  assert.equal(getObject?.EvalDecision, "implicitDeny");
  assert.deepEqual(getObject?.MatchedStatements ?? [], []);

  const instance = "arn:aws:ec2:us-east-1:000000000000:instance/*";
  // An empty list goes over the wire as `ContextEntries=`.
  const untagged = await simulate({ ActionNames: ["ec2:RunInstances"], ResourceArns: [instance], ContextEntries: [] });
  assert.equal(untagged.EvaluationResults?.[0]?.EvalDecision, "implicitDeny");
  assert.equal(untagged.EvaluationResults?.[0]?.EvalResourceName, instance);
  assert.deepEqual(untagged.EvaluationResults?.[0]?.MissingContextValues, ["aws:RequestTag/spotferry:pool"]);
  const tagged = await simulate({
    ActionNames: ["ec2:RunInstances"],
    ResourceArns: [instance],
    ContextEntries: [{ ContextKeyName: "aws:RequestTag/spotferry:pool", ContextKeyValues: ["etl"], ContextKeyType: "string" }],
  });
  assert.equal(tagged.EvaluationResults?.[0]?.EvalDecision, "allowed");

  // Pages of MaxItems actions, with IAM's Marker.
  const first = await simulate({ ActionNames: ["s3:PutObject", "s3:GetObject", "s3:ListBucket"], MaxItems: 2 });
  assert.equal(first.IsTruncated, true);
  assert.equal(first.EvaluationResults?.length, 2);
  const rest = await simulate({ ActionNames: ["s3:PutObject", "s3:GetObject", "s3:ListBucket"], MaxItems: 2, Marker: first.Marker });
  assert.deepEqual(
    rest.EvaluationResults?.map((r) => r.EvalActionName),
    ["s3:ListBucket"],
  );

  // A session ARN of the role is simulated as the role; an unknown role is NoSuchEntity.
  const bySession = await simulate({
    PolicySourceArn: "arn:aws:sts::000000000000:assumed-role/node/i-0abc",
    ActionNames: ["s3:PutObject"],
    ResourceArns: ["arn:aws:s3:::out/exports/e1/data/part-1"],
  });
  assert.equal(bySession.EvaluationResults?.[0]?.EvalDecision, "allowed");
  await assert.rejects(
    simulate({ PolicySourceArn: "arn:aws:iam::000000000000:role/nobody", ActionNames: ["s3:PutObject"] }),
    (err: Error) => {
      assert.equal(err.name, "NoSuchEntityException");
      assert.match(err.message, /role with name nobody cannot be found/);
      return true;
    },
  );
});

test("SimulatePrincipalPolicy needs iam:SimulatePrincipalPolicy on the role; GetCallerIdentity names the caller", async (t) => {
  const { sim, root } = await testSim(t, { identities: generatedIdentities(), roles: { node: NODE, doctor: CALLER, other: null } });
  const doctor = await session(sim.url, "doctor", "preflight");
  const asDoctor = iamWith(sim.url, doctor);
  const other = await session(sim.url, "other", "someone");
  const asOther = iamWith(sim.url, other);
  t.after(() => {
    asDoctor.destroy();
    asOther.destroy();
  });
  const command = new SimulatePrincipalPolicyCommand({
    PolicySourceArn: "arn:aws:iam::000000000000:role/node",
    ActionNames: ["s3:PutObject"],
    ResourceArns: ["arn:aws:s3:::out/exports/a"],
  });
  assert.equal((await asDoctor.send(command)).EvaluationResults?.[0]?.EvalDecision, "allowed");
  await assert.rejects(asOther.send(command), (err: Error) => {
    assert.equal(err.name, "AccessDenied");
    assert.match(
      err.message,
      /assumed-role\/other\/someone is not authorized to perform: iam:SimulatePrincipalPolicy on resource: arn:aws:iam::000000000000:role\/node/,
    );
    return true;
  });

  const sts = (credentials: Creds) => new STSClient({ region: "us-east-1", endpoint: sim.url, credentials, maxAttempts: 1 });
  const rootSts = sts(root);
  const otherSts = sts(other);
  t.after(() => {
    rootSts.destroy();
    otherSts.destroy();
  });
  const me = await rootSts.send(new GetCallerIdentityCommand({}));
  assert.deepEqual([me.Arn, me.Account, me.UserId], ["arn:aws:iam::000000000000:root", "000000000000", "000000000000"]);
  // No permission needed, even for a role that may do nothing.
  const them = await otherSts.send(new GetCallerIdentityCommand({}));
  assert.equal(them.Arn, "arn:aws:sts::000000000000:assumed-role/other/someone");
  assert.match(them.UserId ?? "", /^AROA[0-9A-Z]+:someone$/);
  // Signed by a key the sim does not know: STS's own code.
  const stranger = sts({ accessKeyId: "AKIANOBODY", secretAccessKey: "nope" });
  t.after(() => stranger.destroy());
  await assert.rejects(stranger.send(new GetCallerIdentityCommand({})), (err: Error) => err.name === "InvalidClientTokenId");
});
