import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { SecretRef } from "../../config/secret.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { resolveSecret } from "../../lib/secrets/resolve.ts";
import { testSim } from "../helpers/sim.ts";

/** The sim accepts the keys it was started with: the stack's (SPOTFERRY_SIM_IDENTITIES) or test/test. */
/** resolveSecret with the real SDK clients against a private sim, configured only through the standard environment. */
async function simEnv(t: TestContext) {
  const { sim, env, root: credentials } = await testSim(t);
  const sm = new SecretsManagerClient({ region: "us-east-1", endpoint: sim.url, credentials });
  const ssm = new SSMClient({ region: "us-east-1", endpoint: sim.url, credentials });
  t.after(() => {
    sm.destroy();
    ssm.destroy();
  });
  const secret = async (Name: string, value: string | Uint8Array) =>
    (await sm.send(new CreateSecretCommand({ Name, ...(typeof value === "string" ? { SecretString: value } : { SecretBinary: value }) })))
      .ARN as string;
  return { env, ssm, secret };
}

/** The one line a failed resolution gives: a UserError with the expected exit code, never holding the value. */
async function refusal(p: Promise<unknown>, exitCode: number, secretValue?: string): Promise<string> {
  const err = await p.then(
    () => assert.fail("expected a refusal"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
  assert.equal(err.exitCode, exitCode, err.message);
  assert.ok(!err.message.includes("\n"), "one line");
  if (secretValue)
    assert.ok(!JSON.stringify({ m: err.message, c: String(err.cause) }).includes(secretValue), "the value is never in an error");
  return err.message;
}

const field = "source.password";

test("Secrets Manager: a plain string, RDS-style JSON, jsonKey", async (t) => {
  const { env, secret } = await simEnv(t);
  const plain = await secret("db/plain", "pa{ss");
  assert.deepEqual(await resolveSecret({ secretArn: plain }, { env, field }), { password: "pa{ss" });
  const rds = await secret(
    "db/rds",
    JSON.stringify({ engine: "mysql", username: "app_b", password: "pw-b", host: "db.example", port: 3307 }),
  );
  assert.deepEqual(await resolveSecret({ secretArn: rds }, { env, field }), {
    password: "pw-b",
    username: "app_b",
    host: "db.example",
    port: 3307,
  });
  // A partial ARN (no random suffix) finds the secret too, as AWS does.
  assert.equal((await resolveSecret({ secretArn: rds.slice(0, -7) }, { env, field })).password, "pw-b");
  const custom = await secret("db/custom", JSON.stringify({ dbPassword: "pw-c", port: "3308" }));
  assert.deepEqual(await resolveSecret({ secretArn: custom, jsonKey: "dbPassword" }, { env, field }), { password: "pw-c", port: 3308 });
});

test("Secrets Manager: missing, binary, JSON without password, jsonKey on a plain string: one line naming field and ARN", async (t) => {
  const { env, secret } = await simEnv(t);
  const missing = "arn:aws:secretsmanager:us-east-1:000000000000:secret:nope-AbCdEf";
  assert.equal(
    await refusal(resolveSecret({ secretArn: missing }, { env, field }), ExitCode.usage),
    `source.password: secret ${missing} does not exist`,
  );
  const binary = await secret("db/binary", new Uint8Array([1, 2, 3]));
  assert.equal(
    await refusal(resolveSecret({ secretArn: binary }, { env, field }), ExitCode.usage),
    `source.password: secret ${binary} is binary, not a string`,
  );
  const nopw = await secret("db/nopw", JSON.stringify({ username: "u", pass: "hunter2" }));
  assert.equal(
    await refusal(resolveSecret({ secretArn: nopw }, { env, field }), ExitCode.usage, "hunter2"),
    `source.password: secret ${nopw} is JSON without "password"`,
  );
  const plain = await secret("db/plain2", "hunter3");
  assert.match(
    await refusal(resolveSecret({ secretArn: plain, jsonKey: "pw" }, { env, field }), ExitCode.usage, "hunter3"),
    /^source\.password: secret .* is not a JSON object, so jsonKey "pw" cannot be read$/,
  );
});

test("SSM: a SecureString is read decrypted; a missing parameter is one line", async (t) => {
  const { env, ssm } = await simEnv(t);
  await ssm.send(new PutParameterCommand({ Name: "/spotferry/db", Value: "ssm-pw", Type: "SecureString", KeyId: "alias/spotferry" }));
  assert.deepEqual(await resolveSecret({ ssmParameter: "/spotferry/db" }, { env, field }), { password: "ssm-pw" });
  const arn = "arn:aws:ssm:us-east-1:000000000000:parameter/spotferry/db";
  assert.deepEqual(await resolveSecret({ ssmParameter: arn }, { env, field }), { password: "ssm-pw" });
  assert.equal(
    await refusal(resolveSecret({ ssmParameter: "/spotferry/other" }, { env, field }), ExitCode.usage),
    "source.password: SSM parameter /spotferry/other does not exist",
  );
});

test("{ env: NAME } keeps working; an unset variable is one line", async () => {
  assert.deepEqual(await resolveSecret({ env: "PW" }, { env: { PW: "x" }, field }), { password: "x" });
  assert.equal(
    await refusal(resolveSecret({ env: "PW" }, { env: {}, field }), ExitCode.usage),
    "source.password: environment variable PW is not set",
  );
});

/** An endpoint that answers every request as AWS answers a caller without permission (sim/iam/ does it for roles). */
async function denyingEndpoint(t: TestContext, message: string): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () =>
      res
        .writeHead(400, { "content-type": "application/x-amz-json-1.1" })
        .end(JSON.stringify({ __type: "AccessDeniedException", message })),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test("access denied names the refused action (the service's or kms:Decrypt); an unreachable service is exit 3", async (t) => {
  const role = "arn:aws:sts::000000000000:assumed-role/spotferry-node/i-1";
  const arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf";
  const base = { AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "k", AWS_SECRET_ACCESS_KEY: "s" };
  const sm = await denyingEndpoint(t, `User: ${role} is not authorized to perform: secretsmanager:GetSecretValue on resource: ${arn}`);
  assert.match(
    await refusal(resolveSecret({ secretArn: arn }, { env: { ...base, AWS_ENDPOINT_URL_SECRETS_MANAGER: sm }, field }), ExitCode.usage),
    new RegExp(`^source\\.password: access denied to secretsmanager:GetSecretValue on secret ${arn} \\(User: .*\\)$`),
  );
  const kms = await denyingEndpoint(
    t,
    `User: ${role} is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:000000000000:key/k1`,
  );
  const refs: [SecretRef, Record<string, string>][] = [
    [{ secretArn: arn }, { AWS_ENDPOINT_URL_SECRETS_MANAGER: kms }],
    [{ ssmParameter: "/db" }, { AWS_ENDPOINT_URL_SSM: kms }],
  ];
  for (const [ref, endpoint] of refs)
    assert.match(
      await refusal(resolveSecret(ref, { env: { ...base, ...endpoint }, field }), ExitCode.usage),
      /: access denied to kms:Decrypt on /,
    );
  const ssm = await denyingEndpoint(
    t,
    `User: ${role} is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:us-east-1:000000000000:parameter/db`,
  );
  assert.match(
    await refusal(resolveSecret({ ssmParameter: "/db" }, { env: { ...base, AWS_ENDPOINT_URL_SSM: ssm }, field }), ExitCode.usage),
    /^source\.password: access denied to ssm:GetParameter on SSM parameter \/db /,
  );

  // A port nothing listens on: one just closed.
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
  const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
  await new Promise<void>((r) => dead.close(() => r()));
  assert.match(
    await refusal(
      resolveSecret({ secretArn: arn }, { env: { ...base, AWS_ENDPOINT_URL_SECRETS_MANAGER: deadUrl }, field }),
      ExitCode.unavailable,
    ),
    new RegExp(`^source\\.password: cannot reach Secrets Manager at ${deadUrl} to read secret ${arn}: ECONNREFUSED$`),
  );
});
