import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type AgentBundle, buildAgentBundle, presignBundle, publishAgentBundle } from "../../bootstrap/index.ts";
import { tempBucket } from "../helpers/temp-bucket.ts";

/**
 * The agent bundle: built once, it runs with plain `node` in a folder outside the repository (no node_modules, no
 * tsx), its bytes are reproducible (content addressing), and it is published to the local S3 store once per content
 * and fetched back through a presigned URL.
 */
let bundle: AgentBundle;
const dir = mkdtempSync(join(tmpdir(), "spotferry-bundle-test-"));
before(async () => {
  bundle = await buildAgentBundle();
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("the bundle runs with plain node outside the repository, Parquet worker and wasm included", () => {
  const names = bundle.files.map((f) => f.name).sort();
  assert.ok(names.includes("spotferry-agent.mjs") && names.includes("parquet-worker.mjs"), names.join(", "));
  assert.ok(
    names.some((n) => n.endsWith(".wasm")),
    "the wasm the codecs need is shipped",
  );
  writeFileSync(join(dir, "agent.tar.gz"), bundle.archive);
  execFileSync("tar", ["-xzf", "agent.tar.gz"], { cwd: dir });
  assert.deepEqual(
    readdirSync(dir)
      .filter((n) => n !== "agent.tar.gz")
      .sort(),
    names,
  );
  assert.ok(!existsSync(join(dir, "node_modules")) && !dir.startsWith(process.cwd()));
  const env = { PATH: process.env.PATH ?? "", HOME: dir };
  const out = execFileSync(process.execPath, ["spotferry-agent.mjs", "--self-test"], { cwd: dir, env, encoding: "utf8" });
  assert.match(out, /^self-test ok: .*parquet\/zstd\/worker=\d+B parquet\/snappy\/inline=\d+B/);
  const help = execFileSync(process.execPath, [join(dir, "spotferry-agent.mjs"), "--help"], { env, encoding: "utf8" });
  for (const flag of ["--pool", "--state-table", "--idle-exit", "--node-id", "--no-imds", "--config"]) assert.match(help, new RegExp(flag));
});

test("the bundle is reproducible: the same sources give the same SHA-256", async () => {
  const again = await buildAgentBundle();
  assert.equal(again.sha256, bundle.sha256);
  assert.equal(createHash("sha256").update(bundle.archive).digest("hex"), bundle.sha256);
});

test("publishing is content-addressed and idempotent; a presigned URL fetches the same bytes", async (t) => {
  const { s3, bucket, drop } = await tempBucket("sf-bundle");
  t.after(drop);
  const first = await publishAgentBundle({ s3, bucket, prefix: "artifacts/", bundle });
  assert.equal(first.key, `artifacts/agent/${bundle.sha256}/spotferry-agent.tar.gz`);
  assert.equal(first.bytes, bundle.archive.length);
  assert.equal(first.uploaded, true);
  const second = await publishAgentBundle({ s3, bucket, prefix: "artifacts/", bundle });
  assert.equal(second.uploaded, false, "an existing key is not uploaded again");
  await assert.rejects(publishAgentBundle({ s3, bucket, prefix: "no-slash", bundle }), /must end with "\/"/);

  const url = await presignBundle(s3, first, { expiresInSeconds: 120 });
  assert.match(url, /X-Amz-Expires=120/);
  const res = await fetch(url);
  assert.equal(res.status, 200);
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(createHash("sha256").update(body).digest("hex"), bundle.sha256);
  const unsigned = await fetch(url.slice(0, url.indexOf("?")));
  assert.notEqual(unsigned.status, 200, "the object is not public: only the signature opens it");
  await unsigned.arrayBuffer();
});
