import type { Clock } from "../lib/clock.ts";

/**
 * IMDSv2 client and interruption watcher. Token first (PUT, TTL), then GETs with the token; a 401 refreshes the token.
 * The endpoint is AWS_EC2_METADATA_SERVICE_ENDPOINT (the sim serves one per node) or the link-local default.
 */
export const DEFAULT_IMDS = "http://169.254.169.254";

export class Imds {
  private readonly endpoint: string;
  private readonly clock: Clock;
  private token: string | null = null;
  private tokenExpires = 0;
  constructor(endpoint: string, clock: Clock) {
    this.endpoint = endpoint;
    this.clock = clock;
  }

  private async getToken(): Promise<string> {
    if (this.token && this.clock.now() < this.tokenExpires - 30_000) return this.token;
    const res = await fetch(new URL("/latest/api/token", this.endpoint), {
      method: "PUT",
      headers: { "X-aws-ec2-metadata-token-ttl-seconds": "21600" },
      signal: AbortSignal.timeout(2000),
    });
    if (!res.ok) throw new Error(`IMDS token request answered ${res.status}`);
    this.token = await res.text();
    this.tokenExpires = this.clock.now() + 21_600_000;
    return this.token;
  }

  /** A metadata path's text, or null when it does not exist (404). */
  async get(path: string): Promise<string | null> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await fetch(new URL(`/latest/${path}`, this.endpoint), {
        headers: { "X-aws-ec2-metadata-token": await this.getToken() },
        signal: AbortSignal.timeout(2000),
      });
      if (res.status === 401) {
        this.token = null;
        continue;
      }
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`IMDS ${path} answered ${res.status}`);
      return res.text();
    }
    throw new Error(`IMDS ${path}: token refused twice`);
  }
}

export type Notice = { kind: "termination"; deadline: number; action: string } | { kind: "rebalance"; at: number };

/**
 * Polls spot/instance-action and events/recommendations/rebalance every `intervalMs` and reports each kind of notice
 * once. Polling errors are reported through onError and polling goes on: a flaky metadata service must not stop work.
 */
export function watchInterruptions(
  imds: Imds,
  clock: Clock,
  opts: { intervalMs: number; signal: AbortSignal; onNotice: (n: Notice) => void; onError?: (err: unknown) => void },
): Promise<void> {
  let sawTermination = false;
  let sawRebalance = false;
  const poll = async () => {
    if (!sawTermination) {
      const action = await imds.get("meta-data/spot/instance-action");
      if (action) {
        const parsed = JSON.parse(action) as { action: string; time: string };
        sawTermination = true;
        opts.onNotice({ kind: "termination", action: parsed.action, deadline: Date.parse(parsed.time) });
      }
    }
    if (!sawRebalance) {
      const rebalance = await imds.get("meta-data/events/recommendations/rebalance");
      if (rebalance) {
        const parsed = JSON.parse(rebalance) as { noticeTime: string };
        sawRebalance = true;
        opts.onNotice({ kind: "rebalance", at: Date.parse(parsed.noticeTime) });
      }
    }
  };
  return (async () => {
    while (!opts.signal.aborted && !sawTermination) {
      try {
        await poll();
      } catch (err) {
        opts.onError?.(err);
      }
      await clock.sleep(opts.intervalMs, opts.signal).catch(() => {});
    }
  })();
}
