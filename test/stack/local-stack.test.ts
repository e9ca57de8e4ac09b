import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { ConditionalCheckFailedException, CreateTableCommand, DeleteTableCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  paginateListObjectsV2,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import mysql from "mysql2/promise";
import { s3Client } from "../../lib/aws/s3.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { mysqlOptions, uniqueName } from "../helpers/env.ts";

// The stack's services answer the real SDK and driver, reached only through the standard environment variables.

describe("MariaDB", () => {
  test("answers a query over TCP with the stack's user and keeps BIGINT UNSIGNED exact", async () => {
    const conn = await mysql.createConnection({ ...mysqlOptions(), supportBigNumbers: true, bigNumberStrings: true });
    try {
      const [rows] = await conn.query("SELECT CAST(18446744073709551615 AS UNSIGNED) AS big, VERSION() AS v");
      const row = (rows as { big: string; v: string }[])[0]!;
      assert.equal(row.big, "18446744073709551615");
      assert.match(row.v, /MariaDB/);
    } finally {
      await conn.end();
    }
  });
});

describe("DynamoDB Local", () => {
  const ddb = dynamoClient();
  const table = uniqueName("stack-test");
  after(async () => {
    await ddb.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
    ddb.destroy();
  });

  test("honours a conditional write", async () => {
    await ddb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      }),
    );
    const put = () =>
      ddb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: "a" } }, ConditionExpression: "attribute_not_exists(pk)" }));
    await put();
    await assert.rejects(put(), ConditionalCheckFailedException);
  });
});

describe("S3 store", () => {
  const s3 = s3Client();
  const bucket = uniqueName("stack").toLowerCase();
  after(async () => {
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket })) {
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
    }
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
    s3.destroy();
  });

  test("multipart upload, ranged GET, multipart listing and abort, ListObjectsV2 paging, DeleteObjects", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = Buffer.alloc(12 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    await new Upload({ client: s3, params: { Bucket: bucket, Key: "big.bin", Body: body }, partSize: 5 * 1024 * 1024 }).done();
    const ranged = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big.bin", Range: "bytes=10000000-10000009" }));
    assert.deepEqual(Buffer.from(await ranged.Body!.transformToByteArray()), body.subarray(10_000_000, 10_000_010));

    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "orphan.bin" }));
    await s3.send(new UploadPartCommand({ Bucket: bucket, Key: "orphan.bin", UploadId, PartNumber: 1, Body: Buffer.alloc(1024) }));
    const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    assert.deepEqual(
      listed.Uploads?.map((u) => u.UploadId),
      [UploadId],
    );
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: "orphan.bin", UploadId }));
    const after = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    assert.equal(after.Uploads?.length ?? 0, 0);

    for (let i = 0; i < 7; i++) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `p/${i}`, Body: `${i}` }));
    const pages: number[] = [];
    for await (const page of paginateListObjectsV2({ client: s3, pageSize: 3 }, { Bucket: bucket, Prefix: "p/" })) {
      pages.push(page.KeyCount ?? 0);
    }
    assert.deepEqual(pages, [3, 3, 1]);
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: "p/0" }, { Key: "p/1" }] } }));
    const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "p/" }));
    assert.equal(left.KeyCount, 5);
  });
});
