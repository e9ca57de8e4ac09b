import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { CONTROL_PREFIX, handleControl } from "./control.ts";
import { bindRecorder, CallRecorder, startFrontDoors } from "./front-door/index.ts";
import { queryService, serveCloudWatchQuery, serveEc2, serveIamQuery, serveJson, serveStsQuery } from "./iam/front-door.ts";
import { authenticate } from "./iam/sigv4.ts";
import { jsonServiceFor } from "./json-services.ts";
import { DEFAULT_SETTINGS, type SimSettings, World } from "./world.ts";

/**
 * One HTTP server on 127.0.0.1 serves EC2 (Query protocol), CloudWatch (JSON 1.0 and query), the JSON services and
 * the control API, told apart by request shape: `/_sim/` is the control API (unauthenticated), `X-Amz-Target` a JSON
 * service, any other call a query one (CloudWatch, IAM or STS by its SigV4 scope's service, else EC2). Every AWS call is
 * authenticated and authorised first (sim/iam/).
 * `startSim` runs it in-process (tests, `spotferry local up` when it hosts the sim itself); see daemon.ts for the
 * detached variant behind `spotferry sim up`.
 */
export interface StartSimOptions extends Partial<Omit<SimSettings, "stateDir">> {
  /** Private state directory: instance working dirs, events.jsonl. Default: env SPOTFERRY_SIM_DIR or .spotferry/sim. */
  stateDir?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Called when the control API asks the sim to shut down (the daemon exits then). */
  onShutdownRequest?: () => void;
}

export interface RunningSim {
  url: string;
  port: number;
  stateDir: string;
  world: World;
  /** The variables that point the AWS SDK at this sim (EC2 and CloudWatch). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.SPOTFERRY_SIM_DIR ?? ".spotferry/sim");
}

const MAX_BODY = 8 * 1024 * 1024;

/** The body as received (what the client signed) and as text (gunzipped when the client compressed it). */
async function readBody(req: IncomingMessage): Promise<{ raw: Buffer; text: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error(`request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  // CloudWatch PutMetricData bodies over 10 KB arrive gzip-compressed (the SDK's request compression).
  return { raw, text: (req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8") };
}

export function simEnv(url: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_EC2: url,
    AWS_ENDPOINT_URL_MONITORING: url,
    AWS_ENDPOINT_URL_CLOUDWATCH: url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: url,
    AWS_ENDPOINT_URL_SSM: url,
    AWS_ENDPOINT_URL_IAM: url,
    AWS_ENDPOINT_URL_STS: url,
  };
}

export async function startSim(opts: StartSimOptions = {}): Promise<RunningSim> {
  const { port = 0, onShutdownRequest, stateDir, ...rest } = opts;
  const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  const settings: SimSettings = { ...DEFAULT_SETTINGS, ...defined, stateDir: resolve(stateDir ?? defaultStateDir()) };
  // S3 and DynamoDB reach the stack through front doors that record and authorise every call (sim/front-door/).
  const recorder = new CallRecorder();
  const doors = await startFrontDoors({ env: process.env, recorder, clock: settings.clock, iam: () => world.iam });
  settings.instanceEnv = { ...doors.env, ...settings.instanceEnv };
  let world: World;
  try {
    world = new World(settings);
  } catch (err) {
    // Bad settings (an instanceEnv that looks like a secret, unreadable identities): no listener may outlive them.
    await doors.stop();
    throw err;
  }
  bindRecorder(world, recorder);
  let stopping: Promise<void> | undefined;

  const server: Server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const { raw, text: body } = await readBody(req);
      const method = req.method ?? "GET";
      if (url.pathname === CONTROL_PREFIX || url.pathname.startsWith(`${CONTROL_PREFIX}/`)) {
        // The sim's own back door, not AWS: unauthenticated, on loopback only.
        const reply = await handleControl(world, method, url, body, () => onShutdownRequest?.());
        res.writeHead(reply.status, { "content-type": reply.contentType ?? "application/json" }).end(reply.body);
        return;
      }
      const rawPath = (req.url ?? "/").split("?")[0] ?? "/";
      const auth = await authenticate(world.iam, { method, path: rawPath, query: url.searchParams, headers: req.headers, body: raw });
      const target = req.headers["x-amz-target"];
      const service = jsonServiceFor(typeof target === "string" ? target : undefined);
      if (service && typeof target === "string") {
        const reply = await serveJson(world, service, target, body, auth);
        res.writeHead(reply.status, reply.headers).end(reply.body);
        return;
      }
      const params = method === "POST" ? new URLSearchParams(body) : url.searchParams;
      const kind = queryService(auth, params);
      const reply =
        kind === "monitoring"
          ? serveCloudWatchQuery(world, params, auth)
          : kind === "iam"
            ? serveIamQuery(world, params, auth)
            : kind === "sts"
              ? serveStsQuery(world, params, auth)
              : await serveEc2(world, params, auth);
      res.writeHead(reply.status, { "content-type": "text/xml;charset=UTF-8" }).end(reply.body);
    } catch (err) {
      res
        .writeHead(500, { "content-type": "text/plain" })
        .end(`spotferry sim: handling ${req.method} ${req.url}: ${(err as Error).message}`);
    }
  });

  await new Promise<void>((ok, fail) => {
    server.once("error", (err) => fail(new Error(`starting the sim on 127.0.0.1:${port}`, { cause: err })));
    server.listen(port, "127.0.0.1", () => ok());
  });
  const actualPort = (server.address() as AddressInfo).port;
  world.url = `http://127.0.0.1:${actualPort}`;
  world.events.add("sim-started", { url: world.url, pid: process.pid, timeScale: settings.timeScale });

  return {
    url: world.url,
    port: actualPort,
    stateDir: settings.stateDir,
    world,
    env: { ...simEnv(world.url), ...doors.env },
    stop() {
      stopping ??= (async () => {
        world.events.add("sim-stopping");
        await world.stop();
        await doors.stop();
        server.closeAllConnections();
        await new Promise<void>((ok) => server.close(() => ok()));
      })();
      return stopping;
    },
  };
}

/** Stops an in-process sim: every instance process group gets SIGTERM, then SIGKILL; all listeners close. */
export function stopSim(sim: RunningSim): Promise<void> {
  return sim.stop();
}
