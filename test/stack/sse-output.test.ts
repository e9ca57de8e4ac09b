import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import type { S3Client } from "@aws-sdk/client-s3";
import { exportSpec, type SseSpec } from "../../config/export-spec.ts";
import { finalizeExport } from "../../controller/finalize/finalize.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { FakeClock, systemClock } from "../../lib/clock.ts";
import { MemoryJobStore } from "../../lib/jobs/memory-job-store.ts";
import { startChunkUpload } from "../../lib/output/sink.ts";
import { CallRecorder, type FrontDoor, type RecordedCall, startFrontDoor } from "../../sim/front-door/index.ts";
import { tempBucket } from "../helpers/temp-bucket.ts";

/**
 * Swift's s3api answers 501 NotImplemented to any x-amz-server-side-encryption (it has no KMS, and SSE-S3 only with
 * its encryption middleware, which the local stack does not run), so encrypted writes cannot succeed locally. What
 * is checked instead is what AWS would see: the requests as they pass the sim's S3 front door, whose SSE condition
 * keys come from the headers actually sent; and that a refused write fails the step instead of going unencrypted.
 */
const KEY = "arn:aws:kms:us-east-1:000000000000:key/0a1b2c3d-0000-4e5f-8a9b-0123456789ab";
const KMS: SseSpec = { type: "SSE-KMS", kmsKeyId: KEY };
const SSE_KEYS = ["s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id"];

describe("destination.sse on the wire", { timeout: 120_000 }, () => {
  const recorder = new CallRecorder();
  let door: FrontDoor;
  let s3: S3Client;
  let temp: Awaited<ReturnType<typeof tempBucket>>;

  before(async () => {
    temp = await tempBucket("sse");
    door = await startFrontDoor({
      service: "s3",
      upstream: process.env.AWS_ENDPOINT_URL_S3 as string,
      recorder,
      clock: systemClock,
      iam: () => undefined,
    });
    s3 = s3Client({ ...process.env, AWS_ENDPOINT_URL_S3: door.url });
  });
  after(async () => {
    s3?.destroy();
    await door?.stop();
    await temp?.drop();
  });

  const callsOn = (key: string): RecordedCall[] =>
    recorder.list({ service: "s3" }).filter((c) => c.requests.some((r) => r.resource === `arn:aws:s3:::${temp.bucket}/${key}`));
  const sseOf = (call: RecordedCall) =>
    Object.fromEntries(Object.entries(call.requests[0]?.context ?? {}).filter(([k]) => SSE_KEYS.includes(k)));

  const upload = (key: string, bytes: number, sse?: SseSpec) =>
    startChunkUpload(s3, key, Readable.from([randomBytes(bytes)]), "application/octet-stream", { bucket: temp.bucket, sse }).done();

  test("a small chunk's PutObject carries SSE-KMS and its key; Swift refuses it and the upload fails", async () => {
    await assert.rejects(upload("small-kms", 1024, KMS), (err: Error) => {
      assert.match(err.message, /uploading chunk s3:\/\/sse-.*\/small-kms/);
      assert.match(String((err.cause as Error)?.message), /Server-side encryption is not supported/);
      return true;
    });
    const [put] = callsOn("small-kms");
    assert.equal(put?.api, "PutObject");
    assert.equal(put?.status, 501);
    assert.deepEqual(sseOf(put!), { [SSE_KEYS[0]!]: "aws:kms", [SSE_KEYS[1]!]: KEY });
  });

  test("a multipart chunk's CreateMultipartUpload carries SSE-S3 (AES256)", async () => {
    await assert.rejects(upload("big-s3", 9 * 1024 * 1024, { type: "SSE-S3" }));
    const create = callsOn("big-s3").find((c) => c.api === "CreateMultipartUpload");
    assert.ok(create, `calls: ${callsOn("big-s3").map((c) => c.api)}`);
    assert.equal(create.status, 501);
    assert.deepEqual(sseOf(create), { [SSE_KEYS[0]!]: "AES256" });
  });

  test("without sse nothing is sent and the chunk is written", async () => {
    await upload("plain", 1024);
    const [put] = callsOn("plain");
    assert.equal(put?.status, 200);
    assert.deepEqual(sseOf(put!), {});
  });

  test("finalize writes the manifest with the destination's SSE; refused, the export is not committed", async () => {
    const store = new MemoryJobStore({ clock: new FakeClock(Date.parse("2026-01-01T00:00:00Z")) });
    const spec = exportSpec.parse({
      kind: "Export",
      name: "sse",
      source: { user: "u", database: "d", table: "t" },
      destination: { bucket: temp.bucket, prefix: "fin/", sse: KMS },
    });
    const exportId = `sse-${randomBytes(3).toString("hex")}`;
    const keyColumns = [{ name: "id", type: "uint" as const, sqlType: "bigint(20) unsigned" }];
    await store.createExport({ exportId, spec, keyColumns, keyIndex: "PRIMARY", lowKey: null, highWatermark: null, partitions: [] });
    const deps = { store, s3, clock: systemClock, schema: async () => [] };
    await assert.rejects(finalizeExport(deps, exportId), /writing s3:\/\/sse-.*\/fin\/.*_manifest\.json/);
    const put = recorder.list({ service: "s3" }).find((c) => c.api === "PutObject" && c.requests[0]?.resource.endsWith("_manifest.json"));
    assert.ok(put);
    assert.deepEqual(sseOf(put), { [SSE_KEYS[0]!]: "aws:kms", [SSE_KEYS[1]!]: KEY });
    assert.equal((await store.getExport(exportId))?.state, "FINALIZING");
  });
});
