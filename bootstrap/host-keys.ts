/**
 * Which SSH host key to trust for a node, learned out of band: the fingerprints the node printed on its console at
 * first boot (cloud-init does it, and so does our user-data), read back through EC2 GetConsoleOutput — never from
 * the SSH connection itself.
 */
import { type EC2Client, GetConsoleOutputCommand } from "@aws-sdk/client-ec2";

export interface TrustedHostKey {
  /** As ssh-keygen prints it: ED25519, ECDSA, RSA. */
  algorithm: string;
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -l -E sha256` prints it. */
  sha256: string;
}

const BEGIN = "-----BEGIN SSH HOST KEY FINGERPRINTS-----";
const END = "-----END SSH HOST KEY FINGERPRINTS-----";
// "256 SHA256:abc... root@host (ED25519)", possibly prefixed by cloud-init's "ec2: ".
const LINE = /^(?:ec2:\s*)?\d+\s+(SHA256:[A-Za-z0-9+/]{43})\s+.*\(([A-Z0-9-]+)\)\s*$/;

/**
 * Every fingerprint between the BEGIN/END markers, by algorithm. A console that shows two different keys for one
 * algorithm (keys regenerated, or something on the node printing lookalike blocks) is refused: nothing to trust.
 */
export function parseHostKeyFingerprints(consoleText: string): Map<string, string> {
  const found = new Map<string, string>();
  let inside = false;
  for (const raw of consoleText.split(/\r?\n/)) {
    const line = raw.replace(/^ec2:\s*/, "").trim();
    if (line === BEGIN) inside = true;
    else if (line === END) inside = false;
    else if (inside) {
      const m = LINE.exec(raw.trim());
      if (!m) continue;
      const [, sha, algorithm] = m as unknown as [string, string, string];
      const seen = found.get(algorithm);
      if (seen && seen !== sha) throw new Error(`the console shows two different ${algorithm} host keys (${seen}, ${sha})`);
      found.set(algorithm, sha);
    }
  }
  return found;
}

/**
 * The host key to expect from `instanceId`, from its console output; undefined while the console has none yet (EC2
 * publishes console output a few minutes after boot: poll). Prefers ED25519, then ECDSA, then RSA.
 */
export async function trustedHostKey(ec2: EC2Client, instanceId: string): Promise<TrustedHostKey | undefined> {
  let text: string;
  try {
    const out = await ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId }));
    text = out.Output ? Buffer.from(out.Output, "base64").toString("utf8") : "";
  } catch (cause) {
    throw new Error(`reading the console output of ${instanceId} for its SSH host key`, { cause });
  }
  let keys: Map<string, string>;
  try {
    keys = parseHostKeyFingerprints(text);
  } catch (cause) {
    throw new Error(`reading the SSH host key of ${instanceId} from its console`, { cause });
  }
  for (const algorithm of ["ED25519", "ECDSA", "RSA"]) {
    const sha256 = keys.get(algorithm);
    if (sha256) return { algorithm, sha256 };
  }
  return undefined;
}
