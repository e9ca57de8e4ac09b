import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ListBucketsCommand } from "@aws-sdk/client-s3";
import { s3Client } from "../../lib/aws/s3.ts";
import { repoRoot } from "../../lib/paths.ts";
import { LOCAL_CREDENTIALS } from "./credentials.ts";
import { ensureIdentities, identitiesFile, type StackIdentities } from "./identities.ts";
import { freePort, isAlive, readyOrStop, startDetached, waitUntil } from "./proc.ts";
import type { LocalService, StackContext } from "./service.ts";

/**
 * The S3-compatible store: OpenStack Swift with its s3api middleware, the only local server found that does multipart
 * listing and abort, ranged GETs and ListObjectsV2 paging. One device, one replica, rings in a private swift_dir.
 */
const SERVERS = ["account", "container", "object"] as const;

/** One tempauth user per key of the stack (`k0` is the operator's, `k1`... the pool keys the sim hands to roles). */
function tempauthUsers(identities: StackIdentities): { users: string; aliases: string } {
  const keys = [...identities.root, ...identities.pool];
  return {
    users: keys.map((k, i) => `user_test_k${i} = ${k.secretAccessKey} .admin`).join("\n"),
    aliases: keys.map((k, i) => `${k.accessKeyId}=test:k${i}`).join(","),
  };
}

function writeConfig(dir: string, ports: Record<string, number>, identities: StackIdentities): void {
  const auth = tempauthUsers(identities);
  const common = (port: number) =>
    `[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = ${port}\nworkers = 1\nuser = root\nswift_dir = ${dir}\ndevices = ${join(dir, "srv")}\nmount_check = false\nlog_facility = LOG_LOCAL2\n`;
  writeFileSync(
    join(dir, "swift.conf"),
    "[swift-hash]\nswift_hash_path_suffix = spotferry-local\nswift_hash_path_prefix = spotferry-local\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n",
  );
  for (const s of SERVERS) {
    writeFileSync(
      join(dir, `${s}-server.conf`),
      `${common(ports[s]!)}[pipeline:main]\npipeline = ${s}-server\n[app:${s}-server]\nuse = egg:swift#${s}\n`,
    );
  }
  const filters = ["catch_errors", "gatekeeper", "healthcheck", "proxy_logging", "listing_formats", "bulk", "copy", "slo", "dlo"];
  writeFileSync(
    join(dir, "proxy-server.conf"),
    `${common(ports.proxy!)}
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy_logging cache listing_formats bulk s3api keyalias tempauth copy slo dlo proxy_logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:tempauth]
use = egg:swift#tempauth
${auth.users}
[filter:s3api]
use = egg:swift#s3api
[filter:keyalias]
paste.filter_factory = swift_keyalias:filter_factory
aliases = ${auth.aliases}
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${ports.memcached}
${filters.map((f) => `[filter:${f}]\nuse = egg:swift#${f}\n`).join("")}`,
  );
}

function buildRings(dir: string, ports: Record<string, number>): void {
  for (const s of SERVERS) {
    const builder = join(dir, `${s}.builder`);
    rmSync(builder, { force: true });
    rmSync(join(dir, `${s}.ring.gz`), { force: true });
    const run = (...args: string[]) => execFileSync("swift-ring-builder", [builder, ...args], { stdio: "ignore" });
    run("create", "4", "1", "1");
    run("add", `r1z1-127.0.0.1:${ports[s]}/d1`, "100");
    // rebalance exits 1 with a warning on a one-device ring, yet writes the ring.
    try {
      run("rebalance");
    } catch {
      if (!existsSync(join(dir, `${s}.ring.gz`))) throw new Error(`building the ${s} ring failed`);
    }
  }
}

async function pickPorts(previous: Record<string, string> | undefined): Promise<Record<string, number>> {
  const ports: Record<string, number> = {};
  for (const name of ["proxy", "memcached", ...SERVERS]) ports[name] = Number(previous?.[`port_${name}`]) || (await freePort());
  return ports;
}

export const swiftService: LocalService = {
  name: "s3",
  requirements: [
    { binary: "swift-proxy-server", packages: ["swift", "swift-proxy"] },
    { binary: "swift-object-server", packages: ["swift-object"] },
    { binary: "swift-container-server", packages: ["swift-container"] },
    { binary: "swift-account-server", packages: ["swift-account"] },
    { binary: "swift-ring-builder", packages: ["swift"] },
    { binary: "memcached", packages: ["memcached"] },
  ],

  async start(ctx: StackContext, previous) {
    const dir = join(ctx.home, "swift");
    mkdirSync(join(dir, "srv", "d1"), { recursive: true });
    mkdirSync(join(dir, "log"), { recursive: true });
    const ports = await pickPorts(previous?.extra);
    // Rings embed the server ports, so they are rebuilt whenever the ports are new.
    if (!existsSync(join(dir, "object.ring.gz")) || !previous) buildRings(dir, ports);
    const identities = ensureIdentities(ctx.home);
    writeConfig(dir, ports, identities);
    const log = (n: string) => ({ logFile: join(dir, "log", `${n}.log`) });
    const pids = [
      startDetached("memcached", ["-u", "root", "-l", "127.0.0.1", "-p", String(ports.memcached), "-m", "64", "-U", "0"], log("memcached")),
    ];
    // The proxy imports the key-alias filter that sits next to this file's source.
    const env = { ...process.env, PYTHONPATH: join(repoRoot, "sim", "stack") };
    for (const s of [...SERVERS, "proxy"])
      pids.push(startDetached(`swift-${s}-server`, [join(dir, `${s}-server.conf`)], { ...log(s), env }));
    const extra: Record<string, string> = { identities: identitiesFile(ctx.home) };
    for (const [k, v] of Object.entries(ports)) extra[`port_${k}`] = String(v);
    const state = { pids, port: ports.proxy!, extra };
    await readyOrStop(
      pids,
      waitUntil(
        "s3 (swift)",
        () => this.healthy(state),
        60_000,
        () => pids.every(isAlive),
      ),
    );
    return state;
  },

  async healthy(state) {
    const res = await fetch(`http://127.0.0.1:${state.port}/healthcheck`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return false;
    // A Swift started before the stack had pool keys does not know them: unhealthy, so `up` restarts it.
    if (!state.extra.identities || !existsSync(state.extra.identities)) return false;
    const identities = JSON.parse(readFileSync(state.extra.identities, "utf8")) as StackIdentities;
    for (const key of [identities.root[0], identities.pool.at(-1)]) {
      if (!key) return false;
      const client = s3Client({
        ...LOCAL_CREDENTIALS,
        AWS_ACCESS_KEY_ID: key.accessKeyId,
        AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
        ...this.env(state),
      });
      try {
        await client.send(new ListBucketsCommand({}), { abortSignal: AbortSignal.timeout(5000) });
      } catch {
        return false;
      } finally {
        client.destroy();
      }
    }
    return true;
  },

  env(state) {
    return { AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${state.port}` };
  },
};
