import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { exportSpec } from "../../config/export-spec.ts";
import { controllerSettings } from "../../config/settings.ts";
import { nodePolicy } from "../../controller/iam/policies.ts";
import { policyCoverage } from "../../sim/iam/coverage.ts";
import { dynamodbRequests } from "../../sim/iam/dynamodb-actions.ts";
import { evaluate } from "../../sim/iam/evaluate.ts";
import { deleteObjectsKeys, s3NeedsBody, s3Requests } from "../../sim/iam/s3-actions.ts";

const s3 = (method: string, pathAndQuery: string, headers: Record<string, string> = {}, body?: string) => {
  const [path = "/", query = ""] = pathAndQuery.split("?");
  return s3Requests({ method, path, query: new URLSearchParams(query), headers, body });
};

describe("S3 calls -> IAM actions", () => {
  const cases: [string, string, string, { action: string; resource: string }[]][] = [
    ["PUT", "/b/p/k%201", "PutObject", [{ action: "s3:PutObject", resource: "arn:aws:s3:::b/p/k 1" }]],
    ["POST", "/b/p/k?uploads", "CreateMultipartUpload", [{ action: "s3:PutObject", resource: "arn:aws:s3:::b/p/k" }]],
    ["PUT", "/b/p/k?partNumber=2&uploadId=u", "UploadPart", [{ action: "s3:PutObject", resource: "arn:aws:s3:::b/p/k" }]],
    ["POST", "/b/p/k?uploadId=u", "CompleteMultipartUpload", [{ action: "s3:PutObject", resource: "arn:aws:s3:::b/p/k" }]],
    ["DELETE", "/b/p/k?uploadId=u", "AbortMultipartUpload", [{ action: "s3:AbortMultipartUpload", resource: "arn:aws:s3:::b/p/k" }]],
    ["GET", "/b/p/k?uploadId=u", "ListParts", [{ action: "s3:ListMultipartUploadParts", resource: "arn:aws:s3:::b/p/k" }]],
    ["GET", "/b/p/k", "GetObject", [{ action: "s3:GetObject", resource: "arn:aws:s3:::b/p/k" }]],
    ["HEAD", "/b/p/k", "HeadObject", [{ action: "s3:GetObject", resource: "arn:aws:s3:::b/p/k" }]],
    ["DELETE", "/b/p/k", "DeleteObject", [{ action: "s3:DeleteObject", resource: "arn:aws:s3:::b/p/k" }]],
    ["HEAD", "/b", "HeadBucket", [{ action: "s3:ListBucket", resource: "arn:aws:s3:::b" }]],
    ["PUT", "/b", "CreateBucket", [{ action: "s3:CreateBucket", resource: "arn:aws:s3:::b" }]],
    ["GET", "/", "ListBuckets", [{ action: "s3:ListAllMyBuckets", resource: "*" }]],
    ["GET", "/b?location", "GetBucketLocation", [{ action: "s3:GetBucketLocation", resource: "arn:aws:s3:::b" }]],
    // A presigned GET: the credential rides in the query, the call is still GetObject.
    [
      "GET",
      "/b/p/k?X-Amz-Credential=K%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x",
      "GetObject",
      [{ action: "s3:GetObject", resource: "arn:aws:s3:::b/p/k" }],
    ],
  ];
  for (const [method, path, api, requests] of cases) {
    test(`${method} ${path} is ${api}`, () => assert.deepEqual(s3(method, path), { api, requests }));
  }

  test("ListObjectsV2 is s3:ListBucket with the prefix as condition context", () => {
    assert.deepEqual(s3("GET", "/b?list-type=2&prefix=p%2Fe1%2F&max-keys=1000"), {
      api: "ListObjectsV2",
      requests: [{ action: "s3:ListBucket", resource: "arn:aws:s3:::b", context: { "s3:prefix": "p/e1/", "s3:max-keys": "1000" } }],
    });
    assert.deepEqual(s3("GET", "/b?uploads&prefix=p%2F").requests, [
      { action: "s3:ListBucketMultipartUploads", resource: "arn:aws:s3:::b", context: { "s3:prefix": "p/" } },
    ]);
  });

  test("DeleteObjects is s3:DeleteObject per key of its body (entities decoded); only it needs the body", () => {
    const body =
      '<?xml version="1.0"?><Delete><Object><Key>p/a&amp;b</Key></Object><Object><Key>p/c</Key></Object><Quiet>true</Quiet></Delete>';
    assert.deepEqual(deleteObjectsKeys(body), ["p/a&b", "p/c"]);
    assert.deepEqual(s3("POST", "/b?delete", {}, body), {
      api: "DeleteObjects",
      requests: [
        { action: "s3:DeleteObject", resource: "arn:aws:s3:::b/p/a&b" },
        { action: "s3:DeleteObject", resource: "arn:aws:s3:::b/p/c" },
      ],
    });
    assert.equal(s3NeedsBody("POST", new URLSearchParams("delete")), true);
    assert.equal(s3NeedsBody("PUT", new URLSearchParams()), false);
  });

  test("CopyObject and UploadPartCopy also read the source", () => {
    const copy = s3("PUT", "/b/dst", { "x-amz-copy-source": "/src/a%20b?versionId=3" });
    assert.equal(copy.api, "CopyObject");
    assert.deepEqual(copy.requests, [
      { action: "s3:PutObject", resource: "arn:aws:s3:::b/dst", context: { "s3:x-amz-copy-source": "/src/a%20b?versionId=3" } },
      { action: "s3:GetObject", resource: "arn:aws:s3:::src/a b" },
    ]);
    assert.equal(s3("PUT", "/b/dst?partNumber=1&uploadId=u", { "x-amz-copy-source": "src/k" }).api, "UploadPartCopy");
  });
});

describe("DynamoDB calls -> IAM actions", () => {
  const scope = { region: "us-east-1", account: "000000000000" };
  const table = "arn:aws:dynamodb:us-east-1:000000000000:table/t";
  const ddb = (op: string, body: unknown) => dynamodbRequests(scope, `DynamoDB_20120810.${op}`, JSON.stringify(body));

  test("item operations on the table ARN; Query and Scan on an index are on the index ARN", () => {
    for (const op of ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable", "CreateTable"]) {
      assert.deepEqual(ddb(op, { TableName: "t" }), { api: op, requests: [{ action: `dynamodb:${op}`, resource: table }] });
    }
    assert.deepEqual(ddb("Query", { TableName: "t", IndexName: "gsi1" }).requests, [
      { action: "dynamodb:Query", resource: `${table}/index/gsi1` },
    ]);
    assert.deepEqual(ddb("Scan", { TableName: "t" }).requests, [{ action: "dynamodb:Scan", resource: table }]);
    assert.deepEqual(ddb("ListTables", {}).requests, [{ action: "dynamodb:ListTables", resource: "*" }]);
  });

  test("TransactWriteItems is authorised per item operation; TransactGetItems per Get", () => {
    const tx = ddb("TransactWriteItems", {
      TransactItems: [
        { Update: { TableName: "t" } },
        { Put: { TableName: "t" } },
        { ConditionCheck: { TableName: "t" } },
        { Delete: { TableName: "other" } },
      ],
    });
    assert.equal(tx.api, "TransactWriteItems");
    assert.deepEqual(tx.requests, [
      { action: "dynamodb:UpdateItem", resource: table },
      { action: "dynamodb:PutItem", resource: table },
      { action: "dynamodb:ConditionCheckItem", resource: table },
      { action: "dynamodb:DeleteItem", resource: "arn:aws:dynamodb:us-east-1:000000000000:table/other" },
    ]);
    assert.deepEqual(ddb("TransactGetItems", { TransactItems: [{ Get: { TableName: "t" } }] }).requests, [
      { action: "dynamodb:GetItem", resource: table },
    ]);
  });

  test("BatchGetItem and BatchWriteItem once per table; a table ARN is kept as given", () => {
    assert.deepEqual(ddb("BatchGetItem", { RequestItems: { t: {}, u: {} } }).requests, [
      { action: "dynamodb:BatchGetItem", resource: table },
      { action: "dynamodb:BatchGetItem", resource: "arn:aws:dynamodb:us-east-1:000000000000:table/u" },
    ]);
    const arn = "arn:aws:dynamodb:eu-west-1:111111111111:table/x";
    assert.deepEqual(ddb("GetItem", { TableName: arn }).requests, [{ action: "dynamodb:GetItem", resource: arn }]);
  });
});

describe("policyCoverage", () => {
  const spec = exportSpec.parse({
    kind: "Export",
    name: "e",
    source: { user: "u", database: "d", table: "t" },
    destination: { bucket: "bkt", prefix: "p/" },
  });
  const policy = nodePolicy({
    settings: controllerSettings.parse({ stateTable: "ttt" }),
    pools: [],
    exports: [spec],
    account: "000000000000",
    region: "us-east-1",
  });
  const scope = { region: "us-east-1", account: "000000000000" };
  const calls = [
    dynamodbRequests(scope, "DynamoDB_20120810.Query", JSON.stringify({ TableName: "ttt", IndexName: "gsi1" })),
    dynamodbRequests(scope, "DynamoDB_20120810.GetItem", JSON.stringify({ TableName: "ttt" })),
    dynamodbRequests(
      scope,
      "DynamoDB_20120810.TransactWriteItems",
      JSON.stringify({ TransactItems: [{ Update: { TableName: "ttt" } }, { Put: { TableName: "ttt" } }] }),
    ),
    s3("POST", "/bkt/p/e1/data/part-000001/chunk-000001-e1.parquet?uploads"),
  ];

  test("a policy that allows every call and uses every non-rare action is covered", () => {
    assert.deepEqual(policyCoverage({ policy, calls, evaluate }), { denied: [], unused: [] });
  });

  test("reports requests the policy denies and actions no call exercised (Rare statements excepted)", () => {
    const more = [
      ...calls,
      s3("GET", "/bkt/p/e1/_manifest.json"),
      dynamodbRequests(scope, "DynamoDB_20120810.Scan", JSON.stringify({ TableName: "ttt" })),
    ];
    const result = policyCoverage({ policy, calls: more.slice(1), evaluate });
    assert.deepEqual(result.denied, [
      { api: "GetObject", action: "s3:GetObject", resource: "arn:aws:s3:::bkt/p/e1/_manifest.json", decision: "implicit-deny" },
      { api: "Scan", action: "dynamodb:Scan", resource: "arn:aws:dynamodb:us-east-1:000000000000:table/ttt", decision: "implicit-deny" },
    ]);
    assert.deepEqual(result.unused, [{ sid: "StateTableIndexes", action: "dynamodb:Query" }]);
    assert.deepEqual(policyCoverage({ policy, calls: [], evaluate, services: ["ec2"] }).unused, []);
  });
});
