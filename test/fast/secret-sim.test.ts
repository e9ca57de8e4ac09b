import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { DeleteParameterCommand, GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { AuthorizationRequest } from "../../lib/iam/policy-document.ts";
import type { ServiceCall } from "../../sim/json-services.ts";
import { handleSecretsManager } from "../../sim/secrets/index.ts";
import { SecretStore } from "../../sim/secrets/secrets-manager.ts";
import { testSim } from "../helpers/sim.ts";

/** The sim accepts the keys it was started with: the stack's (SPOTFERRY_SIM_IDENTITIES) or test/test. */
const credentials = process.env.SPOTFERRY_SIM_IDENTITIES
  ? { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "", secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "" }
  : { accessKeyId: "test", secretAccessKey: "test" };

/** The sim's Secrets Manager and SSM through the unmodified SDK clients, and the IAM questions each operation asks. */
async function clients(t: import("node:test").TestContext) {
  const { sim } = await testSim(t);
  const sm = new SecretsManagerClient({ region: "us-east-1", endpoint: sim.url, credentials, maxAttempts: 1 });
  const ssm = new SSMClient({ region: "us-east-1", endpoint: sim.url, credentials, maxAttempts: 1 });
  t.after(() => {
    sm.destroy();
    ssm.destroy();
  });
  return { sim, sm, ssm };
}

const errorOf = async (p: Promise<unknown>) => {
  const err = (await p.then(
    () => null,
    (e: unknown) => e,
  )) as { name: string; message: string } | null;
  assert.ok(err, "expected the call to fail");
  return err;
};

test("Secrets Manager: create, read by name, ARN and partial ARN, rotate, stages, describe, delete", async (t) => {
  const { sm } = await clients(t);
  const created = await sm.send(
    new CreateSecretCommand({ Name: "spotferry/db", SecretString: "first", Tags: [{ Key: "app", Value: "x" }] }),
  );
  assert.match(created.ARN ?? "", /^arn:aws:secretsmanager:us-east-1:000000000000:secret:spotferry\/db-[A-Za-z0-9]{6}$/);
  const arn = created.ARN as string;
  for (const id of ["spotferry/db", arn, arn.slice(0, -7)]) {
    const v = await sm.send(new GetSecretValueCommand({ SecretId: id }));
    assert.equal(v.SecretString, "first");
    assert.deepEqual(v.VersionStages, ["AWSCURRENT"]);
  }
  const put = await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: "second" }));
  assert.deepEqual(put.VersionStages, ["AWSCURRENT"]);
  assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString, "second");
  const prev = await sm.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: "AWSPREVIOUS" }));
  assert.equal(prev.SecretString, "first");
  assert.equal(prev.VersionId, created.VersionId);
  assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: arn, VersionId: put.VersionId }))).SecretString, "second");
  await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: "third" }));
  const d = await sm.send(new DescribeSecretCommand({ SecretId: arn }));
  const stages = Object.values(d.VersionIdsToStages ?? {}).map((s) => s.join());
  assert.deepEqual(stages.sort(), ["AWSCURRENT", "AWSPREVIOUS"]);
  assert.deepEqual(d.Tags, [{ Key: "app", Value: "x" }]);

  const dup = await errorOf(sm.send(new CreateSecretCommand({ Name: "spotferry/db", SecretString: "x" })));
  assert.equal(dup.name, "ResourceExistsException");
  const gone = await errorOf(sm.send(new GetSecretValueCommand({ SecretId: "nope" })));
  assert.equal(gone.name, "ResourceNotFoundException");
  assert.equal(gone.message, "Secrets Manager can't find the specified secret.");
  const noStage = await errorOf(sm.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: "AWSPENDING" })));
  assert.equal(noStage.name, "ResourceNotFoundException");

  await sm.send(new DeleteSecretCommand({ SecretId: arn, RecoveryWindowInDays: 7 }));
  const marked = await errorOf(sm.send(new GetSecretValueCommand({ SecretId: arn })));
  assert.equal(marked.name, "InvalidRequestException");
  assert.ok((await sm.send(new DescribeSecretCommand({ SecretId: arn }))).DeletedDate instanceof Date);
  await sm.send(new DeleteSecretCommand({ SecretId: arn, ForceDeleteWithoutRecovery: true }));
  assert.equal((await errorOf(sm.send(new DescribeSecretCommand({ SecretId: arn })))).name, "ResourceNotFoundException");
  const again = await sm.send(new CreateSecretCommand({ Name: "spotferry/db", SecretBinary: Buffer.from([0, 1, 2]) }));
  const bin = await sm.send(new GetSecretValueCommand({ SecretId: again.ARN }));
  assert.equal(bin.SecretString, undefined);
  assert.deepEqual([...(bin.SecretBinary ?? [])], [0, 1, 2]);
});

test("SSM: String and SecureString, decryption, overwrite, ARN lookups, delete, errors", async (t) => {
  const { ssm } = await clients(t);
  await ssm.send(new PutParameterCommand({ Name: "/spotferry/db/password", Value: "s3cret", Type: "SecureString", KeyId: "alias/db" }));
  const plain = await ssm.send(new GetParameterCommand({ Name: "/spotferry/db/password", WithDecryption: true }));
  assert.equal(plain.Parameter?.Value, "s3cret");
  assert.equal(plain.Parameter?.ARN, "arn:aws:ssm:us-east-1:000000000000:parameter/spotferry/db/password");
  const opaque = await ssm.send(new GetParameterCommand({ Name: "/spotferry/db/password" }));
  assert.equal(opaque.Parameter?.Type, "SecureString");
  assert.notEqual(opaque.Parameter?.Value, "s3cret");
  assert.ok(!opaque.Parameter?.Value?.includes("s3cret"));
  const byArn = await ssm.send(new GetParameterCommand({ Name: plain.Parameter?.ARN, WithDecryption: true }));
  assert.equal(byArn.Parameter?.Value, "s3cret");

  const exists = await errorOf(ssm.send(new PutParameterCommand({ Name: "/spotferry/db/password", Value: "x", Type: "SecureString" })));
  assert.equal(exists.name, "ParameterAlreadyExists");
  const v2 = await ssm.send(
    new PutParameterCommand({ Name: "/spotferry/db/password", Value: "new", Type: "SecureString", Overwrite: true }),
  );
  assert.equal(v2.Version, 2);
  assert.equal((await ssm.send(new GetParameterCommand({ Name: "/spotferry/db/password", WithDecryption: true }))).Parameter?.Value, "new");

  await ssm.send(new PutParameterCommand({ Name: "flat", Value: "v", Type: "String" }));
  assert.equal(
    (await ssm.send(new GetParameterCommand({ Name: "arn:aws:ssm:us-east-1:000000000000:parameter/flat" }))).Parameter?.Value,
    "v",
  );
  assert.equal((await errorOf(ssm.send(new PutParameterCommand({ Name: "a/b", Value: "v", Type: "String" })))).name, "ValidationException");

  await ssm.send(new DeleteParameterCommand({ Name: "/spotferry/db/password" }));
  const missing = await errorOf(ssm.send(new GetParameterCommand({ Name: "/spotferry/db/password", WithDecryption: true })));
  assert.equal(missing.name, "ParameterNotFound");
  assert.equal((await errorOf(ssm.send(new DeleteParameterCommand({ Name: "/nope" })))).name, "ParameterNotFound");
});

/** A ServiceCall that records what was asked and denies what `deny` matches, as sim/iam/ would. */
function recordingCall(operation: string, input: unknown, deny?: (r: AuthorizationRequest) => boolean) {
  const asked: AuthorizationRequest[] = [];
  const call: ServiceCall = {
    operation,
    body: JSON.stringify(input),
    caller: { kind: "role", arn: "arn:aws:sts::000000000000:assumed-role/node/i-1", role: "node", accessKeyId: "AKIA" },
    now: 1_700_000_000_000,
    authorize(requests) {
      asked.push(...requests);
      const denied = deny && requests.find(deny);
      if (denied)
        throw Object.assign(new Error(`User: node is not authorized to perform: ${denied.action} on resource: ${denied.resource}`), {
          name: "AccessDeniedException",
        });
    },
  };
  return { call, asked };
}

test("IAM: GetSecretValue asks for the secret's ARN, and kms:Decrypt via Secrets Manager for a customer-managed key only", () => {
  const store = new SecretStore();
  const mk = (name: string, KmsKeyId?: string) =>
    JSON.parse(
      handleSecretsManager(store, "eu-west-1", recordingCall("CreateSecret", { Name: name, SecretString: "p", KmsKeyId }).call).body,
    ).ARN as string;
  const cmk = mk("with-cmk", "1234abcd-12ab-34cd-56ef-1234567890ab");
  const managed = mk("with-managed", "alias/aws/secretsmanager");

  const a = recordingCall("GetSecretValue", { SecretId: "with-cmk" });
  assert.equal(handleSecretsManager(store, "eu-west-1", a.call).status, 200);
  assert.deepEqual(a.asked, [
    { action: "secretsmanager:GetSecretValue", resource: cmk, context: {} },
    {
      action: "kms:Decrypt",
      resource: "arn:aws:kms:eu-west-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab",
      context: { "kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com" },
    },
  ]);
  const b = recordingCall("GetSecretValue", { SecretId: managed });
  handleSecretsManager(store, "eu-west-1", b.call);
  assert.deepEqual(
    b.asked.map((r) => r.action),
    ["secretsmanager:GetSecretValue"],
  );

  const denied = recordingCall("GetSecretValue", { SecretId: cmk }, (r) => r.action === "kms:Decrypt");
  const reply = handleSecretsManager(store, "eu-west-1", denied.call);
  assert.equal(reply.status, 400);
  assert.equal(JSON.parse(reply.body).__type, "AccessDeniedException");
  assert.ok(!reply.body.includes('"p"'));
  // A secret that does not exist is authorised first, on the ARN it would have, as AWS does.
  const missing = recordingCall("GetSecretValue", { SecretId: "nope" }, () => true);
  assert.equal(JSON.parse(handleSecretsManager(store, "eu-west-1", missing.call).body).__type, "AccessDeniedException");
  assert.equal(missing.asked[0]?.resource, "arn:aws:secretsmanager:eu-west-1:000000000000:secret:nope");
});
