import { Agent, createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import type { Clock } from "../../lib/clock.ts";
import { dynamodbRequests } from "../iam/dynamodb-actions.ts";
import { type MappedCall, s3NeedsBody, s3Requests } from "../iam/s3-actions.ts";
import type { Principal } from "../json-services.ts";
import { accountOf, denialReply, type FrontDoorIam, identityReply, isPrincipal, type Reply, type SignedBy, signedBy } from "./caller.ts";
import { outagesOf, suffer } from "./outage.ts";
import type { CallRecorder, RecordedCall } from "./recorder.ts";

/**
 * A front door: an HTTP reverse proxy on its own 127.0.0.1 port in front of one local service (Swift's S3 API, or
 * DynamoDB Local). Every call is mapped to its IAM requests (sim/iam/s3-actions.ts, dynamodb-actions.ts), recorded,
 * checked against the caller's role policy (the sim's IAM), and either refused in the service's own words or
 * forwarded byte for byte: same method, path, query and headers, Host included, because the SigV4 signature covers
 * the Host header and Swift verifies it against the same request. Bodies stream both ways (multi-GB uploads pass with
 * backpressure); only a DynamoDB body (at most 16 MB) and a DeleteObjects body (its keys) are read first.
 */
export type FrontDoorService = "s3" | "dynamodb";

export interface FrontDoorOptions {
  service: FrontDoorService;
  /** The service behind the door, e.g. http://127.0.0.1:8080. */
  upstream: string;
  recorder: CallRecorder;
  clock: Clock;
  /** The sim's IAM, looked up per call (undefined: callers are recorded by key and nothing is enforced). */
  iam: () => FrontDoorIam | undefined;
  /** 0 (default): any free port. */
  port?: number;
}

export interface FrontDoor {
  service: FrontDoorService;
  url: string;
  stop(): Promise<void>;
}

const MAX_BUFFERED_BODY = 17 * 1024 * 1024;

/** Headers that belong to one hop, not to the request: never signed by SigV4 (`expect` is on its unsignable list). */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "upgrade", "expect", "te", "trailer"]);

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BUFFERED_BODY) throw new Error(`request body over ${MAX_BUFFERED_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

interface Caller {
  principal?: Principal;
  refusal?: Reply;
  refused?: string;
  name: string;
  role?: string;
}

function identifyCaller(iam: FrontDoorIam | undefined, service: FrontDoorService, signed: SignedBy | undefined): Caller {
  if (!signed) return { name: "anonymous" };
  if (!iam) return { name: `unidentified:${signed.accessKeyId}` };
  const who = iam.identify(signed.accessKeyId, signed.sessionToken);
  if (!isPrincipal(who)) return { name: `unidentified:${signed.accessKeyId}`, refusal: identityReply(service, who), refused: who.code };
  return { principal: who, name: who.arn, role: who.role };
}

export async function startFrontDoor(opts: FrontDoorOptions): Promise<FrontDoor> {
  const upstream = new URL(opts.upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const outage = outagesOf(opts.recorder).current(opts.service, opts.clock.now());
    if (outage) return suffer(outage, req.socket, opts.clock);
    const url = new URL(req.url ?? "/", "http://front-door");
    const method = req.method ?? "GET";
    const needsBody = opts.service === "dynamodb" || s3NeedsBody(method, url.searchParams);
    const body = needsBody ? await readBody(req) : undefined;
    const signed = signedBy(req.headers, url.searchParams);
    const iam = opts.iam();
    const caller = identifyCaller(iam, opts.service, signed);
    const mapped = mapCall(opts.service, req, url, body, {
      region: signed?.region ?? "us-east-1",
      account: accountOf(caller.principal?.arn ?? ""),
    });
    const base = { time: opts.clock.now(), principal: caller.name, role: caller.role, service: opts.service, ...mapped };
    const record = (status: number, refused?: string) => {
      const call: RecordedCall = { ...base, status };
      if (refused) call.refused = refused;
      if (call.role === undefined) delete call.role;
      opts.recorder.record(call);
    };
    const denial = caller.principal && iam ? iam.check(caller.principal, mapped.requests) : undefined;
    const refusal = caller.refusal ?? (denial ? denialReply(opts.service, denial) : undefined);
    if (refusal) {
      record(refusal.status, caller.refused ?? denial?.action);
      req.resume(); // let an unread upload drain so the connection stays usable
      res.writeHead(refusal.status, refusal.headers).end(refusal.body);
      return;
    }
    const status = await forward({ req, res, body, upstream, agent });
    record(status);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`spotferry front door (${opts.service}): ${req.method} ${req.url}: ${err.message}`);
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", (err) => fail(new Error(`starting the ${opts.service} front door`, { cause: err })));
    server.listen(opts.port ?? 0, "127.0.0.1", () => ok());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    service: opts.service,
    url,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      agent.destroy();
    },
  };
}

function mapCall(
  service: FrontDoorService,
  req: IncomingMessage,
  url: URL,
  body: Buffer | undefined,
  scope: { region: string; account: string },
): MappedCall {
  if (service === "dynamodb") {
    const target = req.headers["x-amz-target"];
    return dynamodbRequests(scope, typeof target === "string" ? target : "", body?.toString("utf8") ?? "");
  }
  const path = (req.url ?? "/").split("?")[0]!;
  return s3Requests({ method: req.method ?? "GET", path, query: url.searchParams, headers: req.headers, body: body?.toString("utf8") });
}

/** Sends the request upstream unchanged and streams the answer back; resolves with the upstream's status. */
async function forward(opts: {
  req: IncomingMessage;
  res: ServerResponse;
  body: Buffer | undefined;
  upstream: URL;
  agent: Agent;
}): Promise<number> {
  const { req, res, body, upstream, agent } = opts;
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
  const out = request({
    host: upstream.hostname,
    port: upstream.port || 80,
    method: req.method,
    path: req.url,
    headers,
    agent,
  });
  const answered = new Promise<IncomingMessage>((ok, fail) => {
    out.once("response", ok);
    out.once("error", fail);
  });
  const sent = body !== undefined ? new Promise<void>((ok) => out.end(body, () => ok())) : pipeline(req, out);
  // A refused upload may be answered before its body is sent: the answer counts, the send's failure does not.
  sent.catch(() => {});
  const answer = await answered;
  const back: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) back[k] = v;
  res.writeHead(answer.statusCode ?? 502, back);
  await pipeline(answer, res);
  return answer.statusCode ?? 502;
}

/** The variables that point SDK clients at the front doors. */
export const frontDoorEnv = (doors: FrontDoor[]): Record<string, string> =>
  Object.fromEntries(doors.map((d) => [d.service === "s3" ? "AWS_ENDPOINT_URL_S3" : "AWS_ENDPOINT_URL_DYNAMODB", d.url]));
