/**
 * SSH to nodes (ssh2): run a command, stream the agent's log. The host key is always verified against a fingerprint
 * obtained out of band (host-keys.ts: the node's console via GetConsoleOutput), and only the trusted key's algorithm
 * is negotiated, so a server cannot dodge the check by offering another key type.
 */
import { createHash } from "node:crypto";
import { type Algorithms, Client, type ClientChannel } from "ssh2";
import type { TrustedHostKey } from "./host-keys.ts";
import { AGENT_SERVICE } from "./user-data.ts";

export interface NodeSshTarget {
  host: string;
  /** Default 22; the sim gives each node its own port on 127.0.0.1. */
  port?: number;
  /** ec2-user on Amazon Linux, ubuntu on Ubuntu. */
  username: string;
  privateKey: string | Buffer;
  hostKey: TrustedHostKey;
  readyTimeoutMs?: number;
}

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

/** Thrown when the server's host key is not the trusted one. */
export class HostKeyMismatchError extends Error {
  readonly code = "HOST_KEY_MISMATCH";
}

const HOST_KEY_ALGORITHMS: Record<string, Algorithms["serverHostKey"]> = {
  ED25519: ["ssh-ed25519"],
  ECDSA: ["ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"],
  RSA: ["rsa-sha2-512", "rsa-sha2-256"],
};

/** `SHA256:<base64, no padding>` of a raw host key blob, the format of `ssh-keygen -l -E sha256`. */
export function hostKeyFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The agent's log: journald under systemd, else the file the foreground agent tees into (see user-data.ts). */
export const AGENT_LOG_COMMAND = [
  'SUDO=""; if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi',
  'if [ -n "$SPOTFERRY_NODE_DIR" ]; then exec tail -n 200 -F "$SPOTFERRY_NODE_DIR/spotferry/agent.log"; fi',
  `if [ -d /run/systemd/system ]; then exec $SUDO journalctl -u ${AGENT_SERVICE}.service -f -n 200 -o short-iso; fi`,
  "exec $SUDO tail -n 200 -F /opt/spotferry/agent.log",
].join("\n");

/** One verified SSH connection to a node. */
export class NodeSession {
  private readonly client: Client;
  readonly name: string;

  private constructor(client: Client, name: string) {
    this.client = client;
    this.name = name;
  }

  static connect(target: NodeSshTarget): Promise<NodeSession> {
    const port = target.port ?? 22;
    const name = `${target.username}@${target.host}:${port}`;
    const algorithms = HOST_KEY_ALGORITHMS[target.hostKey.algorithm];
    if (!algorithms) return Promise.reject(new Error(`connecting to ${name}: unsupported host key type ${target.hostKey.algorithm}`));
    const client = new Client();
    let presented: string | undefined;
    return new Promise((resolve, reject) => {
      let settled = false;
      client.once("ready", () => {
        settled = true;
        resolve(new NodeSession(client, name));
      });
      // Always listening: ssh2 can report more than one error (and errors after the handshake when the node dies);
      // an unheard one would crash the process. After the handshake, running commands see the closed channel.
      client.on("error", (err) => {
        if (settled) return;
        settled = true;
        client.end();
        if (presented && presented !== target.hostKey.sha256) {
          reject(
            new HostKeyMismatchError(
              `refusing ${name}: its ${target.hostKey.algorithm} host key is ${presented}, not the trusted ${target.hostKey.sha256}`,
            ),
          );
        } else reject(new Error(`connecting to ${name}`, { cause: err }));
      });
      client.connect({
        host: target.host,
        port,
        username: target.username,
        privateKey: target.privateKey,
        readyTimeout: target.readyTimeoutMs ?? 20_000,
        algorithms: { serverHostKey: algorithms },
        hostVerifier: (key: Buffer) => {
          presented = hostKeyFingerprint(key);
          return presented === target.hostKey.sha256;
        },
      });
    });
  }

  /**
   * Runs `command` (by the login shell) and resolves with its exit status and output. `onData` sees output as it
   * arrives (streaming); aborting `signal` closes the channel and resolves with what was received.
   */
  exec(
    command: string,
    opts: { signal?: AbortSignal; onData?: (chunk: string, from: "stdout" | "stderr") => void; maxBuffer?: number } = {},
  ): Promise<ExecResult> {
    const max = opts.maxBuffer ?? 1 << 20;
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, channel: ClientChannel) => {
        if (err) return reject(new Error(`running a command on ${this.name}`, { cause: err }));
        const out = { stdout: "", stderr: "" };
        const take = (from: "stdout" | "stderr") => (b: Buffer) => {
          const s = b.toString("utf8");
          if (out[from].length < max) out[from] += s;
          opts.onData?.(s, from);
        };
        channel.on("data", take("stdout"));
        channel.stderr.on("data", take("stderr"));
        const onAbort = () => channel.close();
        opts.signal?.addEventListener("abort", onAbort, { once: true });
        if (opts.signal?.aborted) onAbort();
        channel.once("close", (code: number | null, signal?: string) => {
          opts.signal?.removeEventListener("abort", onAbort);
          resolve({ code: code ?? null, signal: signal ?? undefined, ...out });
        });
      });
    });
  }

  /** Follows the agent's log, one line at a time, until `signal` aborts or the node goes away. */
  async streamAgentLog(opts: { signal: AbortSignal; onLine: (line: string) => void }): Promise<void> {
    let partial = "";
    await this.exec(AGENT_LOG_COMMAND, {
      signal: opts.signal,
      onData: (chunk, from) => {
        if (from === "stderr") return;
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) opts.onLine(l);
      },
      maxBuffer: 0,
    });
    if (partial) opts.onLine(partial);
  }

  close(): void {
    this.client.end();
  }
}

/** Connects, runs one command, disconnects. */
export async function runOnNode(target: NodeSshTarget, command: string, opts: { signal?: AbortSignal } = {}): Promise<ExecResult> {
  const session = await NodeSession.connect(target);
  try {
    return await session.exec(command, opts);
  } finally {
    session.close();
  }
}
