import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { DescribeInstancesCommand, type DescribeInstancesCommandOutput, type EC2Client } from "@aws-sdk/client-ec2";
import { trustedHostKey } from "../../bootstrap/host-keys.ts";
import type { NodeSshTarget } from "../../bootstrap/ssh.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";

/**
 * Where to SSH for `spotferry logs`: explicit flags first; then, when the EC2 endpoint is the local sim (it answers
 * `/_sim/status`), the per-node sshd the sim started; else the instance's address from DescribeInstances, port 22.
 * The host key always comes out of band, from the node's console (GetConsoleOutput), never from the connection.
 */
export interface SshFlags {
  host?: string;
  port?: string;
  user?: string;
  identity?: string;
}

interface SimSsh {
  host: string;
  port: number;
  username: string;
  identityFile: string;
}

async function simEndpoint(instanceId: string): Promise<SimSsh | null> {
  const base = process.env.AWS_ENDPOINT_URL_EC2 ?? process.env.AWS_ENDPOINT_URL;
  if (!base) return null;
  // A few tries, each generous: the sim may share a busy process (tests, the rehearsal) and answer slowly.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const res = await fetch(new URL("/_sim/status", base), { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) return null; // an endpoint that is not the sim: a real EC2 endpoint override
      const status = (await res.json()) as { instances?: { instanceId: string; ssh?: SimSsh }[] };
      return status.instances?.find((i) => i.instanceId === instanceId)?.ssh ?? null;
    } catch (err) {
      if (process.env.SPOTFERRY_DEBUG === "1")
        process.stderr.write(`asking ${base} whether it is the sim (try ${attempt}): ${String(err)}\n`);
    }
  }
  return null;
}

async function address(ec2: EC2Client, instanceId: string): Promise<string> {
  let out: DescribeInstancesCommandOutput;
  try {
    out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  } catch (cause) {
    throw new Error(`looking up the address of ${instanceId}`, { cause });
  }
  const inst = out.Reservations?.[0]?.Instances?.[0];
  const ip = inst?.PublicIpAddress ?? inst?.PrivateIpAddress;
  if (!ip) throw new UserError(`${instanceId} has no IP address (is it still running?)`);
  return ip;
}

export async function sshTarget(ec2: EC2Client, instanceId: string, flags: SshFlags): Promise<NodeSshTarget> {
  const hostKey = await trustedHostKey(ec2, instanceId);
  if (!hostKey) {
    throw new UserError(
      `no SSH host key on the console of ${instanceId} yet (EC2 publishes console output a few minutes after boot); refusing to connect unverified`,
      { exitCode: ExitCode.unavailable },
    );
  }
  const sim = flags.host ? null : await simEndpoint(instanceId);
  const host = flags.host ?? sim?.host ?? (await address(ec2, instanceId));
  const port = flags.port ? Number(flags.port) : (sim?.port ?? 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UserError(`--port: expected a TCP port, got "${flags.port}"`, { exitCode: ExitCode.usage });
  const identity = flags.identity ?? process.env.SPOTFERRY_SSH_KEY ?? sim?.identityFile ?? join(homedir(), ".ssh", "id_ed25519");
  let privateKey: Buffer;
  try {
    privateKey = readFileSync(identity);
  } catch (cause) {
    throw new UserError(`reading the SSH identity ${identity} (set --identity or $SPOTFERRY_SSH_KEY)`, { exitCode: ExitCode.usage, cause });
  }
  return { host, port, username: flags.user ?? sim?.username ?? "ec2-user", privateKey, hostKey };
}
