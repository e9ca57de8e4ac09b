import type { RequestLaunchTemplateData } from "@aws-sdk/client-ec2";
import type { S3Client } from "@aws-sdk/client-s3";
import {
  type AgentBundle,
  buildAgentBundle,
  loadNodeRuntime,
  type NodeArchitecture,
  type PublishedBundle,
  type PublishedRuntime,
  presignBundle,
  publishAgentBundle,
  publishNodeRuntime,
  renderLaunchTemplateData,
  renderUserData,
} from "../../bootstrap/index.ts";
import type { PoolRecord } from "../../config/records.ts";
import type { ControllerSettings } from "../../config/settings.ts";
import type { Clock } from "../../lib/clock.ts";
import type { TemplateSource } from "../reconcilers/context.ts";
import type { LaunchTemplateInput } from "./cloud-provider.ts";

/**
 * The production TemplateSource: what provisioning launches nodes from, rendered by bootstrap/.
 *
 * 1. The agent bundle is built once per controller process and published to the artifact bucket under its SHA-256
 *    (idempotent: a restarted controller with the same code uploads nothing), and so is the Node runtime of each
 *    architecture a pool asks for (bootstrap/runtime.ts), so nodes need nothing but S3.
 * 2. Every render presigns fresh GET URLs for both (a URL is a short-lived read capability, see bootstrap/README.md)
 *    and renders the user-data: pool, state table, region, the URLs and SHA-256s, the non-secret `nodeEnv`
 *    and the agent timings as flags. In local/sim mode nothing else is needed: the sim hands each node the stack's
 *    endpoint and SPOTFERRY_MYSQL_* variables itself, so no secret is ever rendered.
 * 3. `refreshAt` is half the URL's lifetime: provisioning re-renders (a new launch template version) from then on,
 *    so an instance launched from the template always boots with a live URL.
 */
export interface BootstrapTemplateDeps {
  s3: S3Client;
  clock: Clock;
  settings: ControllerSettings;
  /** AWS region the nodes run in (written to their agent.env). */
  region: string;
  /** A pre-built bundle (tests); default: built from agent/ on first use. */
  bundle?: AgentBundle;
  /** Where built runtime archives are cached (default bootstrap/runtime.ts defaultCacheDir). */
  cacheDir?: string;
  log?: (line: string) => void;
}

export function bootstrapTemplateSource(deps: BootstrapTemplateDeps): TemplateSource & { published(): Promise<PublishedBundle> } {
  const bucket = deps.settings.artifactBucket;
  const artifactBucket = () => {
    if (bucket) return bucket;
    throw new Error("rendering node user-data: ControllerSettings.artifactBucket is not set (where the agent bundle goes)");
  };
  const published = once(async () => {
    const bundle = deps.bundle ?? (await buildAgentBundle());
    const p = await publishAgentBundle({ s3: deps.s3, bucket: artifactBucket(), prefix: "spotferry/", bundle });
    deps.log?.(`agent bundle ${p.sha256.slice(0, 12)} ${p.uploaded ? "published to" : "already in"} s3://${p.bucket}/${p.key}`);
    return p;
  });
  const runtimes = new Map<NodeArchitecture, () => Promise<PublishedRuntime>>();
  const runtime = (architecture: NodeArchitecture) => {
    let get = runtimes.get(architecture);
    if (!get) {
      get = once(async () => {
        const r = await loadNodeRuntime({ architecture, cacheDir: deps.cacheDir });
        const p = await publishNodeRuntime({
          s3: deps.s3,
          bucket: artifactBucket(),
          prefix: "spotferry/",
          runtime: r,
          cacheDir: deps.cacheDir,
        });
        deps.log?.(`Node ${p.version} ${architecture} ${p.uploaded ? "published to" : "already in"} s3://${p.bucket}/${p.key}`);
        return p;
      });
      runtimes.set(architecture, get);
    }
    return get();
  };
  return {
    published,
    async render(pool: PoolRecord) {
      const what = `rendering the launch template of pool ${pool.pool} (generation ${pool.generation})`;
      try {
        const [bundle, node] = await Promise.all([published(), runtime(pool.spec.architecture)]);
        const lifetime = deps.settings.bundleUrlLifetime;
        const renderedAt = deps.clock.now();
        const expiresInSeconds = Math.round(lifetime);
        const [bundleUrl, runtimeUrl] = await Promise.all([
          presignBundle(deps.s3, bundle, { expiresInSeconds }),
          presignBundle(deps.s3, node, { expiresInSeconds }),
        ]);
        const userData = renderUserData({
          pool: pool.pool,
          stateTable: deps.settings.stateTable,
          region: deps.region,
          bundleUrl,
          bundleSha256: bundle.sha256,
          runtime: { url: runtimeUrl, sha256: node.sha256, architecture: node.architecture, version: node.version },
          env: deps.settings.nodeEnv,
          agentFlags: agentFlags(pool, deps.settings),
        });
        const data = renderLaunchTemplateData(pool.spec, Buffer.from(userData).toString("base64"), { generation: pool.generation });
        return { data: launchTemplateInput(data), refreshAt: renderedAt + (lifetime * 1000) / 2 };
      } catch (cause) {
        throw new Error(what, { cause });
      }
    },
  };
}

/** Runs `make` once and shares its promise; a failure is forgotten, so the next call (the next render) tries again. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () => {
    pending ??= make().catch((err) => {
      pending = null;
      throw err;
    });
    return pending;
  };
}

/**
 * The agent's command line on a node. Pool and state table are passed as flags too (not only in agent.json): flags
 * win over SPOTFERRY_* variables an environment might carry (the sim passes its own SPOTFERRY_* through), so a node
 * can never work for another pool or table than the one it was launched for.
 */
export function agentFlags(pool: PoolRecord, settings: ControllerSettings): string[] {
  const flags = [`--pool=${pool.pool}`, `--state-table=${settings.stateTable}`];
  // One agent process per partition the node works on at once: each on its own core (agent/processes.ts).
  const perNode = pool.spec.capacity.partitionsPerNode;
  if (perNode > 1) flags.push(`--processes=${perNode}`);
  const a = settings.nodeAgent;
  if (a.partitionLease !== undefined) flags.push(`--lease=${a.partitionLease}s`);
  if (a.heartbeatInterval !== undefined) flags.push(`--heartbeat=${a.heartbeatInterval}s`);
  if (a.idleExitAfter !== undefined) flags.push(`--idle-exit=${a.idleExitAfter}s`);
  if (a.imdsPollInterval !== undefined) flags.push(`--imds-poll=${a.imdsPollInterval}s`);
  return flags;
}

/**
 * Adapter from bootstrap's EC2 RequestLaunchTemplateData to the CloudProvider port's LaunchTemplateInput: user-data
 * back to plain text (the provider encodes it), image, role, security groups, key pair and the instance tags. The
 * IMDSv2-only metadata options, shutdown behaviour and volume tags that bootstrap renders are invariants of every
 * spotferry node, so the EC2 provider sets them itself for any template; nothing of the rendered data is lost.
 */
export function launchTemplateInput(data: RequestLaunchTemplateData): LaunchTemplateInput {
  if (!data.ImageId || !data.UserData) throw new Error("converting launch template data: ImageId and UserData are required");
  const tags: Record<string, string> = {};
  for (const spec of data.TagSpecifications ?? []) {
    if (spec.ResourceType !== "instance") continue;
    for (const t of spec.Tags ?? []) if (t.Key && t.Value !== undefined) tags[t.Key] = t.Value;
  }
  return {
    imageId: data.ImageId,
    userData: Buffer.from(data.UserData, "base64").toString("utf8"),
    securityGroupIds: data.SecurityGroupIds?.length ? [...data.SecurityGroupIds] : undefined,
    instanceProfileArn: data.IamInstanceProfile?.Arn,
    keyName: data.KeyName,
    tags,
  };
}
