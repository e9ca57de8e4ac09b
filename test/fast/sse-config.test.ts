import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { validateConfig } from "../../config/load.ts";
import { sseParams } from "../../lib/output/sse.ts";
import { s3Requests } from "../../sim/iam/s3-actions.ts";

const KEY = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-4e5f-8a9b-0123456789ab";
const spec = (sse: unknown) => ({
  kind: "Export",
  name: "calls",
  source: { user: "u", database: "d", table: "t" },
  destination: { bucket: "exports-bucket", sse },
});
const problem = (sse: unknown): string => {
  try {
    validateConfig(spec(sse), "export.yaml", "Export");
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`accepted ${JSON.stringify(sse)}`);
};

describe("destination.sse", () => {
  test("SSE-S3 and SSE-KMS with a key ARN are accepted and become the S3 request parameters", () => {
    const s3 = validateConfig(spec({ type: "SSE-S3" }), "export.yaml", "Export").destination.sse;
    assert.deepEqual(sseParams(s3), { ServerSideEncryption: "AES256" });
    const kms = validateConfig(spec({ type: "SSE-KMS", kmsKeyId: KEY }), "export.yaml", "Export").destination.sse;
    assert.deepEqual(sseParams(kms), { ServerSideEncryption: "aws:kms", SSEKMSKeyId: KEY });
    assert.deepEqual(sseParams(undefined), {});
  });

  test("anything else is one line naming the field", () => {
    const cases: [unknown, RegExp][] = [
      [{ type: "AES256" }, /^export\.yaml: destination\.sse\.type: expected \{ type: "SSE-S3" \} or \{ type: "SSE-KMS"/],
      [{ type: "SSE-KMS" }, /^export\.yaml: destination\.sse\.kmsKeyId: is required$/],
      [
        { type: "SSE-KMS", kmsKeyId: "alias/exports" },
        /^export\.yaml: destination\.sse\.kmsKeyId: must be a KMS key ARN .*got "alias\/exports"$/,
      ],
      [{ type: "SSE-S3", kmsKeyId: KEY }, /^export\.yaml: destination\.sse\.kmsKeyId: unknown field/],
      ["SSE-S3", /^export\.yaml: destination\.sse: expected object/],
    ];
    for (const [sse, expected] of cases) {
      const message = problem(sse);
      assert.match(message, expected);
      assert.ok(!message.includes("\n"), message);
    }
  });
});

describe("the sim's S3 IAM mapping", () => {
  test("PutObject and CreateMultipartUpload carry the SSE condition keys of their headers; UploadPart none", () => {
    const headers = { "x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": KEY };
    const context = { "s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY };
    const put = s3Requests({ method: "PUT", path: "/b/k", query: new URLSearchParams(), headers });
    assert.deepEqual(put.requests, [{ action: "s3:PutObject", resource: "arn:aws:s3:::b/k", context }]);
    const create = s3Requests({ method: "POST", path: "/b/k", query: new URLSearchParams("uploads"), headers });
    assert.deepEqual(create, {
      api: "CreateMultipartUpload",
      requests: [{ action: "s3:PutObject", resource: "arn:aws:s3:::b/k", context }],
    });
    const part = s3Requests({ method: "PUT", path: "/b/k", query: new URLSearchParams("partNumber=1&uploadId=u"), headers: {} });
    assert.deepEqual(part.requests, [{ action: "s3:PutObject", resource: "arn:aws:s3:::b/k" }]);
  });
});
