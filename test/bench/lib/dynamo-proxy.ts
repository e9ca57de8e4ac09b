/**
 * A counting HTTP proxy on 127.0.0.1 in front of DynamoDB Local: point a run's AWS_ENDPOINT_URL_DYNAMODB at `url` and
 * read how many requests of each operation (X-Amz-Target `DynamoDB_20120810.<Op>`) it made. Bodies are piped, never
 * parsed, so the proxy adds a hop but no per-item work.
 */
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";

export const WRITE_OPS = ["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"];

export interface CountingProxy {
  url: string;
  /** Requests by operation since the last reset. */
  counts(): Record<string, number>;
  /** Write requests (WRITE_OPS) since the last reset. */
  writes(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const to = new URL(target);
  let counts: Record<string, number> = {};
  const server = createServer((req, res) => {
    const op =
      String(req.headers["x-amz-target"] ?? "")
        .split(".")
        .pop() || "(none)";
    counts[op] = (counts[op] ?? 0) + 1;
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on("error", (e) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => ({ ...counts }),
    writes: () => WRITE_OPS.reduce((s, op) => s + (counts[op] ?? 0), 0),
    reset() {
      counts = {};
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
