/**
 * The agent as nodes receive it: one tar.gz holding an esbuild bundle of agent/main.ts (`spotferry-agent.mjs`), a
 * bundle per worker-thread entry (`{agent,lib}/**\/*-worker.ts` -> `<name>.mjs`, found by the code next to the main bundle)
 * and the .wasm files the bundled packages read from their own folder (next to the bundle too). Plain `node`
 * runs it: no node_modules, no tsx. Published to S3 content-addressed, fetched by nodes through a presigned URL.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { build, type Plugin } from "esbuild";
import { repoRoot } from "../lib/paths.ts";
import { type TarFile, tarGz } from "./tar.ts";

const ROOT = repoRoot;
export const BUNDLE_ENTRY = "spotferry-agent.mjs";
export const BUNDLE_EXTENSION = "tar.gz";

export interface AgentBundle {
  /** The tar.gz bytes, what is published. */
  archive: Buffer;
  sha256: string;
  /** The files inside (flat), with their bytes, e.g. to run the bundle from a folder without extracting. */
  files: TarFile[];
}

// ESM output has no require/__dirname, yet bundled CommonJS packages use both (zstd-wasm reads zstd.wasm from its
// __dirname, which becomes the bundle's folder: that is why the wasm files are shipped next to the bundle).
const BANNER = [
  'import { createRequire as __sfCreateRequire } from "node:module";',
  'import { fileURLToPath as __sfFileURLToPath } from "node:url";',
  'import { dirname as __sfDirname } from "node:path";',
  "const require = __sfCreateRequire(import.meta.url);",
  "const __filename = __sfFileURLToPath(import.meta.url);",
  "const __dirname = __sfDirname(__filename);",
].join("\n");

/**
 * Our own modules load CommonJS packages with `const require = createRequire(import.meta.url)`, which esbuild cannot
 * see through (a local function, not the free `require`), so the package would be looked up in a node_modules the
 * node does not have. Dropping that one declaration makes those calls free `require(...)` calls, which esbuild bundles.
 */
const LOCAL_REQUIRE = /^\s*(?:const|let|var)\s+require\s*=\s*createRequire\(\s*import\.meta\.url\s*\);?[ \t]*$/m;
const bundleLocalRequires: Plugin = {
  name: "spotferry-local-require",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${"/"}node_modules${"/"}`)) return undefined;
      const text = readFileSync(args.path, "utf8");
      if (!LOCAL_REQUIRE.test(text)) return undefined;
      return { contents: text.replace(LOCAL_REQUIRE, ""), loader: "ts" };
    });
  },
};

function workerEntries(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return workerEntries(p);
    return e.isFile() && e.name.endsWith("-worker.ts") ? [p] : [];
  });
}

/** Builds the bundle (about a second); nothing is written outside a temporary folder that is removed. */
export async function buildAgentBundle(opts: { minify?: boolean } = {}): Promise<AgentBundle> {
  const entries: Record<string, string> = { "spotferry-agent": join(ROOT, "agent", "main.ts") };
  // Worker-thread entries of the code the agent runs (today the Parquet compression worker in lib/output/encode).
  for (const w of [...workerEntries(join(ROOT, "agent")), ...workerEntries(join(ROOT, "lib"))]) entries[basename(w, ".ts")] = w;
  const outdir = mkdtempSync(join(tmpdir(), "spotferry-bundle-"));
  try {
    const result = await build({
      entryPoints: entries,
      outdir,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node24",
      outExtension: { ".js": ".mjs" },
      banner: { js: BANNER },
      minify: opts.minify ?? true,
      keepNames: true,
      legalComments: "none",
      metafile: true,
      logLevel: "silent",
      plugins: [bundleLocalRequires],
    }).catch((cause) => {
      throw new Error(
        `bundling the agent (${Object.values(entries)
          .map((e) => relative(ROOT, e))
          .join(", ")})`,
        { cause },
      );
    });
    const files: TarFile[] = readdirSync(outdir).map((name) => ({ name, data: readFileSync(join(outdir, name)) }));
    // Every folder a bundled package file came from: the wasm files there are read at run time from __dirname.
    const wasm = new Map<string, string>();
    for (const input of Object.keys(result.metafile.inputs)) {
      if (!input.includes("node_modules/")) continue;
      const dir = dirname(resolve(ROOT, input));
      for (const f of existsSync(dir) ? readdirSync(dir) : []) {
        if (!f.endsWith(".wasm")) continue;
        const path = join(dir, f);
        const seen = wasm.get(f);
        if (seen && seen !== path && !readFileSync(seen).equals(readFileSync(path))) {
          throw new Error(`bundling the agent: two different ${f} files (${relative(ROOT, seen)}, ${relative(ROOT, path)})`);
        }
        wasm.set(f, path);
      }
    }
    for (const [name, path] of wasm) files.push({ name, data: readFileSync(path) });
    const archive = tarGz(files);
    return { archive, sha256: createHash("sha256").update(archive).digest("hex"), files };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

export interface PublishedBundle {
  bucket: string;
  key: string;
  sha256: string;
  bytes: number;
}

/** `<prefix>agent/<sha256>/spotferry-agent.tar.gz`: the content address. */
export const bundleKey = (prefix: string, sha256: string) => `${prefix}agent/${sha256}/spotferry-agent.${BUNDLE_EXTENSION}`;

/**
 * Builds (unless given) and uploads the bundle. Idempotent: the key is the content's hash, so an existing object is
 * the same bytes and the upload is skipped. `prefix` is used as given ("" or ending in "/").
 */
export async function publishAgentBundle(deps: {
  s3: S3Client;
  bucket: string;
  prefix?: string;
  bundle?: AgentBundle;
}): Promise<PublishedBundle & { uploaded: boolean }> {
  const prefix = deps.prefix ?? "";
  if (prefix && !prefix.endsWith("/")) throw new Error(`publishing the agent bundle: prefix "${prefix}" must end with "/"`);
  const bundle = deps.bundle ?? (await buildAgentBundle());
  const key = bundleKey(prefix, bundle.sha256);
  const published = { bucket: deps.bucket, key, sha256: bundle.sha256, bytes: bundle.archive.length };
  const uploaded = await putContentAddressed(deps.s3, {
    bucket: deps.bucket,
    key,
    body: () => bundle.archive,
    metadata: { sha256: bundle.sha256 },
    what: "the agent bundle",
  });
  return { ...published, uploaded };
}

/**
 * Uploads a content-addressed object unless its key exists (same key, same bytes); `body` is only called when it
 * must be uploaded, so an expensive archive is built only then. True when it was uploaded.
 */
export async function putContentAddressed(
  s3: S3Client,
  o: { bucket: string; key: string; body: () => Buffer; metadata: Record<string, string>; what: string },
): Promise<boolean> {
  const where = `s3://${o.bucket}/${o.key}`;
  const exists = await s3.send(new HeadObjectCommand({ Bucket: o.bucket, Key: o.key })).then(
    () => true,
    (err: { name?: string; $metadata?: { httpStatusCode?: number } }) => {
      if (err.name === "NotFound" || err.$metadata?.httpStatusCode === 404) return false;
      throw new Error(`publishing ${o.what}: checking ${where}`, { cause: err });
    },
  );
  if (exists) return false;
  await s3
    .send(new PutObjectCommand({ Bucket: o.bucket, Key: o.key, Body: o.body(), ContentType: "application/gzip", Metadata: o.metadata }))
    .catch((cause) => {
      throw new Error(`publishing ${o.what} to ${where}`, { cause });
    });
  return true;
}

/**
 * A GET URL for the bundle that expires (default 1 h). The URL is the only thing a node needs to fetch it, so it is a
 * (read-only, single-object, short-lived) capability: the launch template must be re-rendered before it expires.
 */
export async function presignBundle(
  s3: S3Client,
  bundle: Pick<PublishedBundle, "bucket" | "key">,
  opts: { expiresInSeconds?: number } = {},
): Promise<string> {
  const expiresIn = opts.expiresInSeconds ?? 3600;
  try {
    return await getSignedUrl(s3, new GetObjectCommand({ Bucket: bundle.bucket, Key: bundle.key }), { expiresIn });
  } catch (cause) {
    throw new Error(`presigning s3://${bundle.bucket}/${bundle.key}`, { cause });
  }
}
