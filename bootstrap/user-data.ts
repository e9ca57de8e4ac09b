/**
 * The user-data that turns a fresh instance (Amazon Linux 2023 or Ubuntu, cloud-init, root) into a node: print the SSH
 * host key fingerprints, fetch the Node runtime and the agent bundle through presigned URLs and verify their SHA-256,
 * write the agent's settings, then run it under systemd, or in the foreground with exec where there is no systemd.
 * The sim runs this same script (sim/processes.ts) and marks that by setting SPOTFERRY_NODE_DIR to the instance's
 * folder: then the node keeps its files there and never touches systemd. Nothing comes from anywhere but S3.
 */
import { z } from "zod";
import { AGENT_NODE_FLAGS, AGENT_PROCESS_ENV } from "../config/settings.ts";

/** EC2 rejects user-data over 16 KiB (before base64). */
export const USER_DATA_LIMIT = 16 * 1024;
export const AGENT_SERVICE = "spotferry-agent";

/** Bash single-quoting: safe for any string (a `'` becomes `'\''`); refuses NUL, which no shell word can hold. */
export function shq(value: string): string {
  if (value.includes("\0")) throw new Error("shell-quoting: value contains a NUL byte");
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

// Values that also land in a systemd unit or EnvironmentFile, whose quoting differs from bash's: kept to characters
// that mean nothing to either (no quotes, backslashes, $, %, whitespace or control characters).
const plainWord = /^[A-Za-z0-9._:/=,@+-]+$/;
const envValue = /^[^\s'"\\$`%\p{Cc}]*$/u;
// Secrets never go into user-data (readable through IMDS by every process on the node, and kept by EC2).
const secretName = /SECRET|PASSWORD|TOKEN|CREDENTIAL|PRIVATE/i;

const httpUrl = z
  .string()
  .url()
  .regex(/^https?:\/\/[^\s'"\\`]+$/, "must be an http(s) URL without quotes or spaces");
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits");

export const nodeBootstrapInput = z
  .object({
    pool: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be a pool name (lowercase letters, digits, hyphens)"),
    stateTable: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, "must be a DynamoDB table name"),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region like "us-east-1"'),
    bundleUrl: httpUrl,
    bundleSha256: sha256Hex,
    env: z
      .record(z.string(), z.string().regex(envValue, "must not contain quotes, backslashes, $, %, whitespace or control characters"))
      .default({})
      .superRefine((env, ctx) => {
        // Checked here rather than with a key schema so the message names the variable.
        for (const k of Object.keys(env)) {
          if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) ctx.addIssue({ code: "custom", path: [k], message: "must be an environment variable name" });
          else if (secretName.test(k))
            ctx.addIssue({ code: "custom", path: [k], message: "looks like a secret: secrets never go into user-data" });
        }
      }),
    agentFlags: z.array(z.string().regex(plainWord, "must be a plain word (letters, digits and ._:/=,@+-)")).default([]),
    /** The Node runtime (bootstrap/runtime.ts), fetched like the bundle: URL, the binary's SHA-256, its architecture. */
    runtime: z
      .object({
        url: httpUrl,
        sha256: sha256Hex,
        architecture: z.enum(["x86_64", "arm64"]),
        version: z.string().regex(/^\d+\.\d+\.\d+$/, "must be a Node version like 24.22.3"),
      })
      .strict(),
  })
  .strict();

export type NodeBootstrapInput = z.input<typeof nodeBootstrapInput>;

/** Renders the user-data shell script; throws naming the offending field, or when the script exceeds 16 KiB. */
export function renderUserData(input: NodeBootstrapInput): string {
  const parsed = nodeBootstrapInput.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(input)"}: ${i.message}`);
    throw new Error(`rendering user-data for pool ${JSON.stringify(input.pool)}: ${issues.join("; ")}`);
  }
  const v = parsed.data;
  const settings = `${JSON.stringify({ kind: "AgentSettings", pool: v.pool, stateTable: v.stateTable }, null, 2)}\n`;
  const env = Object.entries({ AWS_REGION: v.region, ...AGENT_PROCESS_ENV, ...v.env })
    .map(([k, val]) => `${k}='${val}'\n`)
    .join("");
  const script = TEMPLATE.replace("@@VARS@@", () =>
    [
      `POOL=${shq(v.pool)}`,
      `BUNDLE_URL=${shq(v.bundleUrl)}`,
      `BUNDLE_SHA256=${shq(v.bundleSha256)}`,
      `RUNTIME_URL=${shq(v.runtime.url)}`,
      `RUNTIME_SHA256=${shq(v.runtime.sha256)}`,
      `RUNTIME_ARCH=${shq(v.runtime.architecture)}`,
      `NODE_VERSION=${shq(v.runtime.version)}`,
      `AGENT_FLAGS=(${v.agentFlags.map(shq).join(" ")})`,
      `SETTINGS_JSON=${shq(settings)}`,
      `AGENT_ENV=${shq(env)}`,
    ].join("\n"),
  );
  const bytes = Buffer.byteLength(script);
  if (bytes > USER_DATA_LIMIT) {
    throw new Error(`rendering user-data for pool ${v.pool}: ${bytes} bytes is over EC2's ${USER_DATA_LIMIT}-byte limit`);
  }
  return script;
}

// The script. Everything variable is in @@VARS@@, shell-quoted; the rest is constant.
const TEMPLATE = `#!/bin/bash
# spotferry node bootstrap, rendered by bootstrap/user-data.ts. cloud-init runs it once, as root, at first boot.
set -euo pipefail
umask 022
@@VARS@@

say() { echo "spotferry-bootstrap: $*"; }
die() { echo "spotferry-bootstrap: ERROR: $*" >&2; exit 1; }

# A real node keeps its files under /opt/spotferry and runs the agent under systemd. SPOTFERRY_NODE_DIR (set by the
# sim) means a process-level node: files in that folder, agent in the foreground.
if [ -n "\${SPOTFERRY_NODE_DIR:-}" ]; then
  SF_DIR="$SPOTFERRY_NODE_DIR/spotferry"; USE_SYSTEMD=0
else
  SF_DIR=/opt/spotferry
  if [ -d /run/systemd/system ]; then USE_SYSTEMD=1; else USE_SYSTEMD=0; fi
fi

# Like cloud-init: the host key fingerprints on the console, where GetConsoleOutput lets operators verify SSH.
print_host_keys() {
  local keys=() k
  if [ -n "\${SPOTFERRY_SSH_HOST_KEY:-}" ]; then keys=("$SPOTFERRY_SSH_HOST_KEY"); else keys=(/etc/ssh/ssh_host_*_key.pub); fi
  echo "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
  for k in "\${keys[@]}"; do [ -f "$k" ] && ssh-keygen -l -E sha256 -f "$k" 2>/dev/null || true; done
  echo "-----END SSH HOST KEY FINGERPRINTS-----"
  echo "-----BEGIN SSH HOST KEY KEYS-----"
  for k in "\${keys[@]}"; do [ -f "$k" ] && cut -d' ' -f1-2 "$k" || true; done
  echo "-----END SSH HOST KEY KEYS-----"
}
print_host_keys

# The Node runtime from the artifact bucket, like the bundle: the node needs S3 alone (no package manager, no internet).
# The digest checked is the extracted binary's; an earlier boot's verified copy is reused.
case "$(uname -m)" in x86_64) ARCH=x86_64 ;; aarch64 | arm64) ARCH=arm64 ;; *) ARCH=$(uname -m) ;; esac
[ "$ARCH" = "$RUNTIME_ARCH" ] ||
  die "this instance is $ARCH but the pool's Node runtime is for $RUNTIME_ARCH: set the pool's architecture to match its image"
RUNTIME="$SF_DIR/runtime/$RUNTIME_SHA256"
NODE_BIN="$RUNTIME/bin/node"
mkdir -p "$SF_DIR/runtime"
if [ ! -x "$NODE_BIN" ] || [ "$(sha256sum "$NODE_BIN" | cut -d' ' -f1)" != "$RUNTIME_SHA256" ]; then
  say "fetching Node.js $NODE_VERSION ($RUNTIME_ARCH) $RUNTIME_SHA256"
  rm -rf "$RUNTIME.tmp" && mkdir -p "$RUNTIME.tmp/bin"
  curl -fsS --retry 8 --retry-delay 2 --retry-all-errors --connect-timeout 10 --max-time 900 -o "$RUNTIME.tmp/node.tar.gz" "$RUNTIME_URL" ||
    die "downloading the Node runtime failed (an expired presigned URL gives 403: re-render the launch template)"
  tar -xzf "$RUNTIME.tmp/node.tar.gz" -C "$RUNTIME.tmp/bin" --no-same-owner node || die "the Node runtime archive holds no node"
  rm -f "$RUNTIME.tmp/node.tar.gz"
  GOT=$(sha256sum "$RUNTIME.tmp/bin/node" | cut -d' ' -f1)
  if [ "$GOT" != "$RUNTIME_SHA256" ]; then
    rm -rf "$RUNTIME.tmp"
    die "REFUSING to run the Node runtime: SHA-256 mismatch (expected $RUNTIME_SHA256, got $GOT)"
  fi
  chmod 0755 "$RUNTIME.tmp/bin/node"
  rm -rf "$RUNTIME" && mv "$RUNTIME.tmp" "$RUNTIME"
fi
[ "$("$NODE_BIN" --version)" = "v$NODE_VERSION" ] || die "the Node runtime is $("$NODE_BIN" --version), expected v$NODE_VERSION"
say "node $("$NODE_BIN" --version) at $NODE_BIN"

# The agent bundle, content-addressed: refuse anything whose SHA-256 is not the one this script was rendered with.
INSTALL="$SF_DIR/agent/$BUNDLE_SHA256"
ARCHIVE="$SF_DIR/agent/$BUNDLE_SHA256.tar.gz"
mkdir -p "$SF_DIR/agent" "$SF_DIR/etc"
say "fetching agent bundle $BUNDLE_SHA256"
curl -fsS --retry 8 --retry-delay 2 --retry-all-errors --connect-timeout 10 --max-time 600 -o "$ARCHIVE.part" "$BUNDLE_URL" ||
  die "downloading the agent bundle failed (an expired presigned URL gives 403: re-render the launch template)"
GOT=$(sha256sum "$ARCHIVE.part" | cut -d' ' -f1)
if [ "$GOT" != "$BUNDLE_SHA256" ]; then
  rm -f "$ARCHIVE.part"
  die "REFUSING to run the agent bundle: SHA-256 mismatch (expected $BUNDLE_SHA256, got $GOT)"
fi
mv -f "$ARCHIVE.part" "$ARCHIVE"
rm -rf "$INSTALL.tmp" && mkdir -p "$INSTALL.tmp"
tar -xzf "$ARCHIVE" -C "$INSTALL.tmp" --no-same-owner
rm -rf "$INSTALL" && mv "$INSTALL.tmp" "$INSTALL"
say "agent bundle verified and installed in $INSTALL"

# Settings without secrets: the agent reads credentials from its instance role (or the environment, locally).
printf '%s' "$SETTINGS_JSON" >"$SF_DIR/etc/agent.json"
printf '%s' "$AGENT_ENV" >"$SF_DIR/etc/agent.env"
AGENT=("$NODE_BIN" ${AGENT_NODE_FLAGS.join(" ")} "$INSTALL/spotferry-agent.mjs" --config "$SF_DIR/etc/agent.json" \${AGENT_FLAGS[@]+"\${AGENT_FLAGS[@]}"})

if [ "$USE_SYSTEMD" = 1 ]; then
  # Drain on shutdown: SIGTERM makes the agent commit or abandon its chunk and release its lease within 110 s.
  cat >/etc/systemd/system/${AGENT_SERVICE}.service <<UNIT
[Unit]
Description=spotferry agent (pool $POOL)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
EnvironmentFile=$SF_DIR/etc/agent.env
ExecStart=\${AGENT[*]}
Restart=on-failure
RestartSec=5
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=110
StandardOutput=journal
StandardError=journal
SyslogIdentifier=${AGENT_SERVICE}

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable --now ${AGENT_SERVICE}.service
  say "agent started as ${AGENT_SERVICE}.service (journalctl -u ${AGENT_SERVICE} -f)"
  exit 0
fi

say "no systemd: running the agent in the foreground (log: $SF_DIR/agent.log)"
set -a
. "$SF_DIR/etc/agent.env"
set +a
# tee ignores SIGTERM so the agent's drain messages still reach the log while it stops.
exec > >(trap '' TERM; exec tee -a "$SF_DIR/agent.log") 2>&1
exec "\${AGENT[@]}"
`;
