import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describeError } from "../../lib/errors.ts";
import { readActivity } from "../oncall/activity.ts";
import { type OncallDeps, readStatus, type StatusOptions } from "../oncall/status.ts";
import { parseTableView } from "./export-section.ts";
import { type PageView, renderPage } from "./page.ts";

/**
 * The read-only status page. GET only: `/` (HTML), `/status.json` (the snapshot, the same shape as
 * `spotferry status --json` plus per-partition fractions for charts), `/healthz`. There are no action endpoints by
 * design: acting goes through the CLI, which confirms and refuses what is unsafe. One snapshot is shared by every
 * request for `cacheMs`, so many open tabs cost the state table one read per interval. `/?sort=KEY&dir=desc&rows=N`
 * orders every partition table (keys: controller/oncall/partitions.ts SORT_KEYS); sorting happens per request on
 * the shared snapshot.
 */
export interface StatusServerOptions {
  host: string;
  port: number;
  refreshSec?: number;
  cacheMs?: number;
  status?: StatusOptions;
  /** Span of chunk commits the page's rates are measured over (controller/oncall/activity.ts; default 5 min). */
  rateWindowMs?: number;
  log?: (line: string) => void;
}

export async function startStatusServer(
  deps: OncallDeps,
  opts: StatusServerOptions,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const cacheMs = opts.cacheMs ?? 2000;
  let cached: { at: number; snapshot: Promise<PageView> } | null = null;
  const snapshot = () => {
    const now = Date.now();
    if (!cached || now - cached.at > cacheMs) {
      const pending = readStatus(deps, opts.status).then(async (world) => ({
        world,
        activity: await readActivity(deps.jobs, world, { now: Date.parse(world.snapshot.now), windowMs: opts.rateWindowMs }),
      }));
      cached = { at: now, snapshot: pending };
      pending.catch(() => {
        cached = null; // do not serve a failure for the whole interval
      });
    }
    return cached.snapshot;
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store", "x-content-type-options": "nosniff" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return send(405, "text/plain; charset=utf-8", "read-only: use the spotferry CLI to act\n");
    }
    try {
      if (path === "/healthz") return send(200, "text/plain; charset=utf-8", "ok\n");
      if (path === "/status.json") return send(200, "application/json", `${JSON.stringify((await snapshot()).world.snapshot, null, 2)}\n`);
      if (path === "/") {
        const page = renderPage(await snapshot(), { refreshSec: opts.refreshSec ?? 10, table: parseTableView(url.searchParams) });
        return send(200, "text/html; charset=utf-8", page);
      }
      return send(404, "text/plain; charset=utf-8", "not found\n");
    } catch (err) {
      opts.log?.(`status page: reading the state table failed: ${describeError(err)}`);
      return send(503, "text/plain; charset=utf-8", `reading the state table failed: ${describeError(err)}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(new Error(`listening on ${opts.host}:${opts.port}`, { cause: err })));
    server.listen(opts.port, opts.host, resolve);
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${host}:${addr.port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/** "127.0.0.1:8080" -> host and port; an address that is not loopback must be asked for explicitly. */
export function parseListen(text: string, allowRemote: boolean): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  if (!m) throw new Error(`--http: expected HOST:PORT like 127.0.0.1:8080, got "${text}"`);
  const host = (m[1] as string).replace(/^\[|\]$/g, "");
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`--http: port ${port} is out of range`);
  if (!LOOPBACK.has(host) && !allowRemote) {
    throw new Error(
      `--http: ${host} is not a loopback address; the page shows fleet and export details, so pass --allow-remote to serve it there`,
    );
  }
  return { host, port };
}
