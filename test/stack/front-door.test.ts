import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { CreateTableCommand, DeleteTableCommand, waitUntilTableExists } from "@aws-sdk/client-dynamodb";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import { DeleteCommand, DynamoDBDocumentClient, QueryCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { s3Client } from "../../lib/aws/s3.ts";
import { systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { POLICY_VERSION, type PolicyDocument } from "../../lib/iam/policy-document.ts";
import { CallRecorder, type FrontDoor, type FrontDoorIam, startFrontDoor } from "../../sim/front-door/index.ts";
import { policyCoverage } from "../../sim/iam/coverage.ts";
import { evaluate } from "../../sim/iam/evaluate.ts";
import type { Principal } from "../../sim/json-services.ts";
import { testSim } from "../helpers/sim.ts";

const env = process.env;
const run = randomBytes(4).toString("hex");
const bucket = `front-door-${run}`;
const table = `front-door-${run}`;
const tableArn = `arn:aws:dynamodb:us-east-1:000000000000:table/${table}`;
const role = "front-door-node";

/** What the test's role may do: the shape of the printed node policy, over this test's bucket and table. */
const policy: PolicyDocument = {
  Version: POLICY_VERSION,
  Statement: [
    {
      Sid: "Items",
      Effect: "Allow",
      Action: ["dynamodb:ConditionCheckItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
      Resource: tableArn,
    },
    { Sid: "Index", Effect: "Allow", Action: "dynamodb:Query", Resource: `${tableArn}/index/*` },
    {
      Sid: "Objects",
      Effect: "Allow",
      Action: ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
      Resource: `arn:aws:s3:::${bucket}/in/*`,
    },
    {
      Sid: "List",
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: `arn:aws:s3:::${bucket}`,
      Condition: { StringLike: { "s3:prefix": "in/*" } },
    },
  ],
};

/** The stack's key acts as a session of `role` (the sim's IAM does this for real role sessions). */
const iam: FrontDoorIam = {
  identify: (accessKeyId) => ({
    kind: "role",
    arn: `arn:aws:sts::000000000000:assumed-role/${role}/test`,
    role,
    session: "test",
    accessKeyId,
  }),
  check: (caller: Principal, requests) => {
    const req = requests.find((r) => evaluate([policy], r) !== "allow");
    if (!req) return undefined;
    const message = `User: ${caller.arn} is not authorized to perform: ${req.action} on resource: ${req.resource} because no identity-based policy allows the ${req.action} action`;
    return { action: req.action, resource: req.resource, role, message };
  },
};

describe("front door: S3 and DynamoDB through a recording, enforcing proxy", { timeout: 180_000 }, () => {
  const recorder = new CallRecorder();
  const direct = { s3: s3Client(env), ddb: dynamoClient(env) };
  let s3Door: FrontDoor;
  let ddbDoor: FrontDoor;
  let s3: ReturnType<typeof s3Client>;
  let doc: DynamoDBDocumentClient;

  before(async () => {
    await direct.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await direct.ddb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: ["pk", "sk", "g"].map((AttributeName) => ({ AttributeName, AttributeType: "S" as const })),
        KeySchema: [
          { AttributeName: "pk", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
        GlobalSecondaryIndexes: [
          { IndexName: "gsi1", KeySchema: [{ AttributeName: "g", KeyType: "HASH" }], Projection: { ProjectionType: "ALL" } },
        ],
      }),
    );
    await waitUntilTableExists({ client: direct.ddb, maxWaitTime: 60 }, { TableName: table });
    const common = { recorder, clock: systemClock, iam: () => iam };
    s3Door = await startFrontDoor({ service: "s3", upstream: env.AWS_ENDPOINT_URL_S3!, ...common });
    ddbDoor = await startFrontDoor({ service: "dynamodb", upstream: env.AWS_ENDPOINT_URL_DYNAMODB!, ...common });
    s3 = s3Client({ ...env, AWS_ENDPOINT_URL_S3: s3Door.url });
    doc = DynamoDBDocumentClient.from(dynamoClient({ ...env, AWS_ENDPOINT_URL_DYNAMODB: ddbDoor.url }));
  });

  after(async () => {
    s3?.destroy();
    doc?.destroy();
    await s3Door?.stop();
    await ddbDoor?.stop();
    await direct.ddb.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
    const keys: { Key: string }[] = [];
    for await (const page of paginateListObjectsV2({ client: direct.s3 }, { Bucket: bucket }))
      for (const o of page.Contents ?? []) keys.push({ Key: o.Key! });
    if (keys.length) await direct.s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } })).catch(() => {});
    await direct.s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
    direct.s3.destroy();
    direct.ddb.destroy();
  });

  test("a streamed multipart upload arrives intact; list, delete and a presigned GET pass", async () => {
    const size = 21 * 1024 * 1024 + 17;
    const hash = createHash("sha256");
    async function* body() {
      for (let sent = 0; sent < size; ) {
        const n = Math.min(1 << 20, size - sent);
        const chunk = randomBytes(n);
        hash.update(chunk);
        sent += n;
        yield chunk;
      }
    }
    await new Upload({
      client: s3,
      params: { Bucket: bucket, Key: "in/big.bin", Body: Readable.from(body()) },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    }).done();
    const back = await direct.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "in/big.bin" }));
    const got = createHash("sha256")
      .update(Buffer.from(await back.Body!.transformToByteArray()))
      .digest("hex");
    assert.equal(got, hash.digest("hex"));

    await new Upload({ client: s3, params: { Bucket: bucket, Key: "in/small.txt", Body: "hello" } }).done();
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "in/" }));
    assert.deepEqual(listed.Contents?.map((o) => o.Key).sort(), ["in/big.bin", "in/small.txt"]);
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "in/small.txt" }), { expiresIn: 60 });
    assert.ok(url.startsWith(s3Door.url) && url.includes("X-Amz-Credential"));
    assert.equal(await (await fetch(url)).text(), "hello");
    await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: "in/small.txt" }, { Key: "in/big.bin" }], Quiet: true } }),
    );
    assert.equal((await direct.s3.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount, 0);
  });

  test("a transaction and a Query on the GSI pass", async () => {
    await doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: table, Item: { pk: "a", sk: "1", g: "q" } } },
          {
            Update: {
              TableName: table,
              Key: { pk: "a", sk: "2" },
              UpdateExpression: "SET g = :g",
              ExpressionAttributeValues: { ":g": "q" },
            },
          },
          { ConditionCheck: { TableName: table, Key: { pk: "a", sk: "3" }, ConditionExpression: "attribute_not_exists(pk)" } },
        ],
      }),
    );
    const out = await doc.send(
      new QueryCommand({ TableName: table, IndexName: "gsi1", KeyConditionExpression: "g = :g", ExpressionAttributeValues: { ":g": "q" } }),
    );
    assert.equal(out.Count, 2);
  });

  test("what the policy does not allow is refused as each service refuses it, and never forwarded", async () => {
    await assert.rejects(doc.send(new DeleteCommand({ TableName: table, Key: { pk: "a", sk: "1" } })), (err: Error) => {
      assert.equal(err.name, "AccessDeniedException");
      assert.match(
        err.message,
        new RegExp(`assumed-role/${role}/test is not authorized to perform: dynamodb:DeleteItem on resource: ${tableArn}`),
      );
      return true;
    });
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "out/secret" })), (err: Error) => {
      assert.equal(err.name, "AccessDenied");
      assert.equal((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 403);
      return true;
    });
    const item = await doc.send(
      new QueryCommand({ TableName: table, IndexName: "gsi1", KeyConditionExpression: "g = :g", ExpressionAttributeValues: { ":g": "q" } }),
    );
    assert.equal(item.Count, 2, "the refused DeleteItem did not reach DynamoDB");
  });

  test("every call is recorded with its IAM actions, and the policy covers exactly what was used", () => {
    const calls = recorder.list({ role });
    const apis = new Set(calls.map((c) => `${c.service}:${c.api}`));
    for (const api of [
      "s3:CreateMultipartUpload",
      "s3:UploadPart",
      "s3:CompleteMultipartUpload",
      "s3:PutObject",
      "s3:ListObjectsV2",
      "s3:GetObject",
      "s3:DeleteObjects",
      "dynamodb:TransactWriteItems",
      "dynamodb:Query",
      "dynamodb:DeleteItem",
    ])
      assert.ok(apis.has(api), `${api} in ${[...apis].join(", ")}`);
    const tx = calls.find((c) => c.api === "TransactWriteItems")!;
    assert.deepEqual(
      tx.requests.map((r) => r.action),
      ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"],
    );
    assert.equal(tx.principal, `arn:aws:sts::000000000000:assumed-role/${role}/test`);
    const del = calls.find((c) => c.api === "DeleteObjects")!;
    assert.deepEqual(
      del.requests.map((r) => r.resource),
      [`arn:aws:s3:::${bucket}/in/small.txt`, `arn:aws:s3:::${bucket}/in/big.bin`],
    );
    assert.deepEqual(calls.find((c) => c.api === "ListObjectsV2")!.requests[0]!.context, { "s3:prefix": "in/" });
    const refused = calls.filter((c) => c.refused);
    assert.deepEqual(
      refused.map((c) => [c.refused, c.status]),
      [
        ["dynamodb:DeleteItem", 400],
        ["s3:GetObject", 403],
      ],
    );
    assert.deepEqual(policyCoverage({ policy, calls: calls.filter((c) => !c.refused), evaluate }), { denied: [], unused: [] });
    assert.equal(policyCoverage({ policy, calls, evaluate }).denied.length, 2);
  });
});

describe("the sim starts its front doors and serves their calls", { timeout: 60_000 }, () => {
  test("RunningSim.env points S3 and DynamoDB at the doors; GET /_sim/calls lists what passed", async (t) => {
    const { sim } = await testSim(t);
    assert.notEqual(sim.env.AWS_ENDPOINT_URL_S3, env.AWS_ENDPOINT_URL_S3);
    assert.match(sim.env.AWS_ENDPOINT_URL_DYNAMODB ?? "", /^http:\/\/127\.0\.0\.1:\d+$/);
    const client = s3Client({ ...env, AWS_ENDPOINT_URL_S3: sim.env.AWS_ENDPOINT_URL_S3 });
    t.after(() => client.destroy());
    await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "none/" })).catch(() => {});
    const res = await fetch(`${sim.url}/_sim/calls?service=s3`);
    const { calls } = (await res.json()) as { calls: { api: string; requests: { action: string }[] }[] };
    assert.ok(
      calls.some((c) => c.api === "ListObjectsV2" && c.requests[0]?.action === "s3:ListBucket"),
      JSON.stringify(calls),
    );
  });
});
