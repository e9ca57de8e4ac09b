import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Clock } from "../lib/clock.ts";
import type { InstanceCredentials } from "./iam/instance-credentials.ts";

/**
 * One IMDSv2 endpoint per instance, on its own loopback port: nodes find it through AWS_EC2_METADATA_SERVICE_ENDPOINT,
 * which the SDK and our agent honour. Only the session-token flavour (v2) is served: a GET without a valid
 * `X-aws-ec2-metadata-token` is 401, as on an instance with HttpTokens=required.
 */
export interface ImdsView {
  instanceId: string;
  instanceType: string;
  zone: string;
  region: string;
  lifecycle: "spot" | "on-demand";
  imageId: string;
  launchTime: number;
  privateIp: string;
  tags: Map<string, string>;
  userData?: Buffer;
  /** Epoch ms of the termination a spot notice announces. */
  noticeTime?: number;
  noticeAction?: "terminate" | "stop" | "hibernate";
  rebalanceTime?: number;
  /** The instance profile's credentials; without a profile everything under iam/ is 404, as on EC2. */
  iam?: InstanceCredentials;
}

export interface ImdsServer {
  url: string;
  close(): Promise<void>;
}

const MAX_TTL = 21600;

export async function startImds(view: () => ImdsView, clock: Clock): Promise<ImdsServer> {
  const tokens = new Map<string, number>();
  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      res.writeHead(500).end(`imds: ${(err as Error).message}`);
    }
  });

  const text = (res: ServerResponse, status: number, body: string, type = "text/plain") => {
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) }).end(body);
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (req.method === "PUT" && path === "/latest/api/token") {
      if (req.headers["x-forwarded-for"]) {
        text(res, 403, "Forbidden");
        return;
      }
      const ttl = Number(req.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL) {
        text(res, 400, "Bad Request");
        return;
      }
      const token = randomBytes(24).toString("base64url");
      tokens.set(token, clock.now() + ttl * 1000);
      res.setHeader("x-aws-ec2-metadata-token-ttl-seconds", String(ttl));
      text(res, 200, token);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      text(res, 405, "Method Not Allowed");
      return;
    }
    const token = req.headers["x-aws-ec2-metadata-token"];
    const expiry = typeof token === "string" ? tokens.get(token) : undefined;
    if (expiry === undefined || expiry < clock.now()) {
      text(res, 401, "Unauthorized");
      return;
    }
    const v = view();
    const body = lookup(v, path);
    if (body === undefined) {
      text(res, 404, "Not Found");
      return;
    }
    if (Buffer.isBuffer(body)) {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length }).end(body);
      return;
    }
    text(res, 200, body, body.startsWith("{") ? "application/json" : "text/plain");
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

function lookup(v: ImdsView, path: string): string | Buffer | undefined {
  if (path === "/latest/user-data") return v.userData;
  if (path === "/latest/dynamic/instance-identity/document") {
    return JSON.stringify({
      accountId: "000000000000",
      architecture: "x86_64",
      availabilityZone: v.zone,
      imageId: v.imageId,
      instanceId: v.instanceId,
      instanceType: v.instanceType,
      pendingTime: iso(v.launchTime),
      privateIp: v.privateIp,
      region: v.region,
      version: "2017-09-30",
    });
  }
  const prefix = "/latest/meta-data/";
  if (path === "/latest/meta-data" || path === prefix) {
    return [
      "ami-id",
      "events/",
      "hostname",
      ...(v.iam ? ["iam/"] : []),
      "instance-id",
      "instance-life-cycle",
      "instance-type",
      "local-ipv4",
      "placement/",
      "spot/",
      "tags/",
    ].join("\n");
  }
  if (!path.startsWith(prefix)) return undefined;
  const key = path.slice(prefix.length);
  const hostname = `ip-${v.privateIp.replaceAll(".", "-")}.ec2.internal`;
  const simple: Record<string, string> = {
    "ami-id": v.imageId,
    hostname,
    "local-hostname": hostname,
    "local-ipv4": v.privateIp,
    "instance-id": v.instanceId,
    "instance-type": v.instanceType,
    "instance-life-cycle": v.lifecycle,
    "placement/": "availability-zone\nregion",
    "placement/availability-zone": v.zone,
    "placement/region": v.region,
    "events/": "recommendations/",
    "events/recommendations/": "rebalance",
    "spot/": v.noticeTime === undefined ? "" : "instance-action\ntermination-time",
    "tags/": "instance",
    "tags/instance": [...v.tags.keys()].join("\n"),
    "tags/instance/": [...v.tags.keys()].join("\n"),
  };
  if (key in simple) return simple[key];
  if (key === "iam" || key.startsWith("iam/")) return iamLookup(v, key);
  // Spot notices: 404 until the instance is marked for interruption, exactly how agents detect "no notice yet".
  if (key === "spot/instance-action" && v.noticeTime !== undefined) {
    return JSON.stringify({ action: v.noticeAction ?? "terminate", time: iso(v.noticeTime) });
  }
  if (key === "spot/termination-time" && v.noticeTime !== undefined) return iso(v.noticeTime);
  if (key === "events/recommendations/rebalance" && v.rebalanceTime !== undefined) {
    return JSON.stringify({ noticeTime: iso(v.rebalanceTime) });
  }
  if (key.startsWith("tags/instance/")) return v.tags.get(key.slice("tags/instance/".length));
  return undefined;
}

/** `iam/info`, `iam/security-credentials/` (the role) and `iam/security-credentials/<role>` (the session). */
function iamLookup(v: ImdsView, key: string): string | undefined {
  if (!v.iam) return undefined;
  if (key === "iam" || key === "iam/") return "info\nsecurity-credentials/";
  if (key === "iam/info") return JSON.stringify(v.iam.info(), null, 2);
  if (key === "iam/security-credentials" || key === "iam/security-credentials/") return v.iam.role;
  if (key === `iam/security-credentials/${v.iam.role}`) return JSON.stringify(v.iam.current(), null, 2);
  return undefined;
}
