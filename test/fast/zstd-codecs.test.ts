import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { zstdDecompressSync } from "node:zlib";
import { repoRoot } from "../../lib/paths.ts";

// The implementation is chosen once per process (at import), so each one is asked for in a child of its own.
function compressIn(impl: "native" | "wasm", text: string): { impl: string; frame: Buffer } {
  const module = JSON.stringify(`file://${join(repoRoot, "lib", "output", "encode", "page-compressor.ts")}`);
  const script = `
    const { compressPages, zstdImplementation } = await import(${module});
    const body = new TextEncoder().encode(${JSON.stringify(text)});
    const r = await compressPages({ id: 1, codec: "zstd", buf: body.buffer, pages: [{ off: 0, len: body.length, stats: null, valuesOff: 0, valuesLen: 0 }] });
    process.stdout.write(JSON.stringify({ impl: zstdImplementation, frame: Buffer.from(r.buf).toString("base64") }));`;
  const env = { ...process.env, SPOTFERRY_ZSTD: impl === "wasm" ? "wasm" : "" };
  const out = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { env, encoding: "utf8" }));
  return { impl: out.impl, frame: Buffer.from(out.frame, "base64") };
}

test("Parquet pages get native zstd on Node 24 and the wasm build as the fallback; both write standard zstd frames", () => {
  const text = "call-log line 2026-11-21 10:00:00 +15550000000 completed\n".repeat(2_000);
  const native = compressIn("native", text);
  const wasm = compressIn("wasm", text);
  assert.deepEqual([native.impl, wasm.impl], ["native", "wasm"]);
  for (const { frame } of [native, wasm]) {
    assert.ok(frame.length < text.length / 10, "compressed");
    assert.equal(zstdDecompressSync(frame).toString(), text);
  }
});
