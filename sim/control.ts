import { baseSpotPrice, INSTANCE_TYPES } from "./catalogue.ts";
import { EC2_ACTIONS } from "./ec2-api.ts";
import { type OutageMode, outagesOf } from "./front-door/outage.ts";
import { callsReply, recorderOf } from "./front-door/recorder.ts";
import { answerIam } from "./iam/control.ts";
import type { Market } from "./market.ts";
import type { World } from "./world.ts";

/**
 * The control API under `/_sim/` (a prefix EC2 never uses), on the same port as the AWS endpoints. JSON in, JSON out;
 * `GET /_sim/events` answers JSON lines. Errors are `{ "error": "what was being done: why" }` with status 400/404.
 */
export const CONTROL_PREFIX = "/_sim";

export interface ControlReply {
  status: number;
  body: string;
  contentType?: string;
}

const json = (status: number, value: unknown): ControlReply => ({ status, body: `${JSON.stringify(value)}\n` });

export function summary(w: World) {
  return w.instances.list().map((i) => ({
    instanceId: i.id,
    state: i.state,
    instanceType: i.type,
    zone: i.zone,
    lifecycle: i.lifecycle,
    pid: i.proc?.pid,
    imds: i.imds?.url,
    dir: i.dir,
    stateReason: i.stateReason?.code,
    noticeTime: i.noticeTime ? new Date(i.noticeTime).toISOString() : undefined,
    tags: Object.fromEntries(i.tagMap),
    ssh: i.sshd ? { host: i.sshd.host, port: i.sshd.port, username: i.sshd.username, identityFile: i.sshd.identityFile } : undefined,
  }));
}

export async function handleControl(w: World, method: string, url: URL, body: string, onShutdown: () => void): Promise<ControlReply> {
  const path = url.pathname.slice(CONTROL_PREFIX.length).replace(/\/+$/, "") || "/";
  let input: Record<string, unknown> = {};
  if (body.trim()) {
    try {
      input = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return json(400, { error: `reading the ${path} request: body is not JSON` });
    }
  }
  const req: ControlRequest = { url, path, input, onShutdown };
  try {
    const reply =
      answerIam(w, method, path, input) ?? (method === "GET" ? answerGet(w, req) : method === "POST" ? answerPost(w, req) : undefined);
    return reply ?? json(404, { error: `${method} ${url.pathname}: no such control endpoint` });
  } catch (err) {
    const message = (err as Error).message;
    return json(/no such instance/.test(message) ? 404 : 400, { error: message });
  }
}

interface ControlRequest {
  url: URL;
  /** The path under CONTROL_PREFIX, without trailing slashes ("/" for the prefix itself). */
  path: string;
  /** The JSON body ({} without one). */
  input: Record<string, unknown>;
  onShutdown: () => void;
}

/** The reply to a GET, or undefined when no endpoint answers it. */
function answerGet(w: World, { url, path }: ControlRequest): ControlReply | undefined {
  if (path === "/health") return json(200, { ok: true, pid: process.pid, url: w.url });
  if (path === "/calls") return callsReply(w, url);
  if (path === "/status") {
    return json(200, {
      url: w.url,
      pid: process.pid,
      stateDir: w.settings.stateDir,
      region: w.geo.region,
      timeScale: w.settings.timeScale,
      ec2Actions: EC2_ACTIONS,
      instances: summary(w),
      capacity: w.market.capacitySettings(),
      ...w.chaos.status(),
      outages: outagesOf(recorderOf(w)).list(w.settings.clock.now()),
    });
  }
  if (path === "/instances") return json(200, summary(w));
  if (path === "/catalogue") {
    return json(200, {
      zones: w.geo.zones,
      subnets: w.geo.subnets,
      instanceTypes: INSTANCE_TYPES.map((t) => ({
        ...t,
        spotPrices: Object.fromEntries(w.geo.zones.map((z) => [z, w.market.spotPrice(t.type, z) ?? baseSpotPrice(w.geo, t, z)])),
      })),
    });
  }
  if (path === "/events") {
    const since = Number(url.searchParams.get("since") ?? 0);
    const types = url.searchParams.get("type")?.split(",").filter(Boolean);
    const lines = w.events.list(Number.isFinite(since) ? since : 0, types).map((e) => JSON.stringify(e));
    return { status: 200, body: lines.length ? `${lines.join("\n")}\n` : "", contentType: "application/x-ndjson" };
  }
  return undefined;
}

/** The reply to a POST, or undefined when no endpoint answers it. */
function answerPost(w: World, { path, input, onShutdown }: ControlRequest): ControlReply | undefined {
  const action = /^\/instances\/([^/]+)\/(interrupt|rebalance|kill|freeze|thaw)$/.exec(path);
  if (action) {
    const [, id = "", verb] = action;
    return instanceAction(w, id, verb, input);
  }
  if (path === "/hazard") {
    w.chaos.hazard(String(input.pool ?? ""), Number(input.ratePerHour), Number(input.seed ?? 1), input.tag as string | undefined);
    return json(200, w.chaos.status());
  }
  if (path === "/outage") return startOutage(w, input);
  if (path === "/capacity") return setCapacity(w, input);
  if (path === "/price") {
    w.chaos.setPrice(String(input.instanceType), String(input.zone), Number(input.price));
    return json(200, { ok: true });
  }
  if (path === "/throttle") {
    w.chaos.throttle(Number(input.count ?? 1), input.actions as string[] | undefined);
    return json(200, { ok: true });
  }
  if (path === "/shutdown") {
    setImmediate(onShutdown);
    return json(200, { ok: true });
  }
  return undefined;
}

function instanceAction(w: World, id: string, verb: string | undefined, input: Record<string, unknown>): ControlReply {
  if (verb === "interrupt") {
    const notice = input.noticeSeconds === undefined ? undefined : Number(input.noticeSeconds);
    if (notice !== undefined && !(notice >= 0)) return json(400, { error: `interrupting ${id}: noticeSeconds must be >= 0` });
    return json(200, w.chaos.interrupt(id, notice));
  }
  if (verb === "freeze" || verb === "thaw") {
    const inst = w.instances.get(id);
    if (!inst) throw new Error(`${verb === "freeze" ? "freezing" : "thawing"} ${id}: no such instance`);
    if (verb === "freeze") w.instances.freeze(inst);
    else w.instances.thaw(inst);
    return json(200, { instanceId: id, frozen: inst.frozen ?? false });
  }
  if (verb === "rebalance") w.chaos.rebalance(id);
  else w.chaos.kill(id);
  return json(200, { instanceId: id, ok: true });
}

/** S3 or DynamoDB down for the sim's callers only: its front door refuses or hangs their calls (front-door/outage.ts). */
function startOutage(w: World, input: Record<string, unknown>): ControlReply {
  const outages = outagesOf(recorderOf(w));
  const o = outages.start({
    service: input.service as "s3" | "dynamodb",
    mode: (input.mode ?? "refuse") as OutageMode,
    ms: Number(input.seconds) * 1000,
    now: w.settings.clock.now(),
  });
  w.events.add("outage", { service: o.service, mode: o.mode, until: new Date(o.until).toISOString() });
  return json(200, o);
}

function setCapacity(w: World, input: Record<string, unknown>): ControlReply {
  const a = input.available;
  const available = a === null || a === undefined || a === "unlimited" ? undefined : a === "none" ? 0 : Number(a);
  const market = (input.market ?? "spot") as Market;
  if (market !== "spot" && market !== "on-demand") return json(400, { error: "setting capacity: market must be spot or on-demand" });
  w.chaos.setCapacity(market, String(input.instanceType), String(input.zone), available);
  return json(200, { capacity: w.market.capacitySettings() });
}
