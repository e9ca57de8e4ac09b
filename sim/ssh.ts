import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";

/**
 * An SSH server per instance, so ssh helpers (bootstrap/ssh.ts) can be exercised against sim nodes: `/usr/sbin/sshd`
 * on 127.0.0.1 with a port of its own, a host key of its own (`ssh-keygen -t ed25519`, in `<instance dir>/ssh/`, its
 * public half passed to the user-data as SPOTFERRY_SSH_HOST_KEY so it prints the fingerprint on the console as on EC2)
 * and one client key pair per sim (`<state dir>/ssh/id_ed25519`) as the only authorised key. Sessions get
 * SPOTFERRY_NODE_DIR (the instance's folder). Without sshd installed the sim runs nodes without SSH.
 */
export const SSHD = "/usr/sbin/sshd";

/** What `spotferry local up` must have installed for sim nodes to be reachable over SSH. */
export const SIM_REQUIREMENTS = [
  { binary: SSHD, packages: ["openssh-server"] },
  { binary: "ssh-keygen", packages: ["openssh-client"] },
];

export interface SimSshEndpoint {
  host: string;
  port: number;
  username: string;
  /** The sim's client private key (OpenSSH format), authorised on every node. */
  identityFile: string;
  /** The node's host public key file (`ssh-ed25519 AAAA...`). */
  hostKeyFile: string;
}

export interface SimSshd extends SimSshEndpoint {
  stop(): void;
}

export const sshAvailable = () => existsSync(SSHD) && existsSync("/usr/bin/ssh-keygen");

function keygen(file: string, comment: string): void {
  if (existsSync(file)) return;
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file], { stdio: "ignore" });
}

/** The sim's client key pair, created once per state dir; returns the private key's path and authorized_keys. */
export function simClientKey(stateDir: string): { identityFile: string; authorizedKeys: string } {
  const dir = join(stateDir, "ssh");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const identityFile = join(dir, "id_ed25519");
  keygen(identityFile, "spotferry-sim");
  const authorizedKeys = join(dir, "authorized_keys");
  if (!existsSync(authorizedKeys)) writeFileSync(authorizedKeys, readFileSync(`${identityFile}.pub`), { mode: 0o600 });
  return { identityFile, authorizedKeys };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const sock = tcpConnect({ host: "127.0.0.1", port }, () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Pids whose parent is `pid` (Linux /proc; elsewhere none are found and only the listener is killed). */
function childrenOf(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // Fields after the parenthesised command name: state, ppid, ...
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

/** Starts the node's sshd and resolves once it accepts connections. */
export async function startSshd(opts: { instanceId: string; dir: string; stateDir: string }): Promise<SimSshd> {
  const what = `starting sshd for ${opts.instanceId}`;
  const { identityFile, authorizedKeys } = simClientKey(opts.stateDir);
  const dir = join(opts.dir, "ssh");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hostKey = join(dir, "ssh_host_ed25519_key");
  keygen(hostKey, `root@${opts.instanceId}`);
  // sshd refuses to start without its privilege separation directory (a tmpfs, gone after a reboot).
  if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const username = userInfo().username;
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      // The state dir lives under /tmp in tests; the key files themselves are 0600.
      "StrictModes no",
      `AllowUsers ${username}`,
      `SetEnv SPOTFERRY_NODE_DIR=${opts.dir}`,
      "",
    ].join("\n"),
  );
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const log = openSync(join(dir, "sshd.log"), "a");
    let child: ChildProcess;
    try {
      child = spawn(SSHD, ["-D", "-e", "-f", config, "-p", String(port)], { detached: true, stdio: ["ignore", log, log] });
    } finally {
      closeSync(log);
    }
    child.unref();
    let exited = false;
    child.once("exit", () => {
      exited = true;
    });
    child.once("error", () => {
      exited = true;
    });
    const deadline = Date.now() + 5000;
    while (!exited && Date.now() < deadline && !(await canConnect(port))) await new Promise((r) => setTimeout(r, 20));
    if (!exited && Date.now() < deadline) {
      const pid = child.pid ?? -1;
      return {
        host: "127.0.0.1",
        port,
        username,
        identityFile,
        hostKeyFile: `${hostKey}.pub`,
        stop() {
          // Per-connection sshd processes start sessions of their own (setsid), out of the listener's group.
          for (const child of childrenOf(pid)) killGroup(child);
          killGroup(pid);
        },
      };
    }
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      // It exited by itself (port taken by someone else between freePort and bind): try another port.
    }
    if (attempt >= 3) throw new Error(`${what}: sshd did not start (see ${join(dir, "sshd.log")})`);
  }
}
