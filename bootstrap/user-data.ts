/**
 * The user-data that turns a fresh instance (Amazon Linux 2023 or Ubuntu, cloud-init, root) into a node: print the SSH
 * host key fingerprints, install Node if missing, fetch the agent bundle through a presigned URL and verify its SHA-256,
 * write the agent's settings, then run it under systemd, or in the foreground with exec where there is no systemd.
 * The sim runs this same script (sim/processes.ts) and marks that by setting SPOTFERRY_NODE_DIR to the instance's
 * folder: then the node keeps its files there and never touches systemd or the package manager of the host.
 */
import { z } from "zod";

/** EC2 rejects user-data over 16 KiB (before base64). */
export const USER_DATA_LIMIT = 16 * 1024;
/** The Node major nodes run: the same as package.json's `engines`, the bundle's esbuild target and the CLI's runtime. */
export const NODE_MAJOR = 24;
/** The Node release installed from nodejs.org when the distribution has no Node 24 (checked against SHASUMS256.txt). */
export const FALLBACK_NODE_VERSION = "24.22.3";
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

export const nodeBootstrapInput = z
  .object({
    pool: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be a pool name (lowercase letters, digits, hyphens)"),
    stateTable: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, "must be a DynamoDB table name"),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region like "us-east-1"'),
    bundleUrl: z
      .string()
      .url()
      .regex(/^https?:\/\/[^\s'"\\`]+$/, "must be an http(s) URL without quotes or spaces"),
    bundleSha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
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
    nodeVersion: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/)
      .default(FALLBACK_NODE_VERSION),
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
  const env = Object.entries({ AWS_REGION: v.region, ...v.env })
    .map(([k, val]) => `${k}='${val}'\n`)
    .join("");
  const script = TEMPLATE.replace("@@VARS@@", () =>
    [
      `POOL=${shq(v.pool)}`,
      `BUNDLE_URL=${shq(v.bundleUrl)}`,
      `BUNDLE_SHA256=${shq(v.bundleSha256)}`,
      `NODE_VERSION=${shq(v.nodeVersion)}`,
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
# sim) means a process-level node: files in that folder, agent in the foreground, no package installs.
if [ -n "\${SPOTFERRY_NODE_DIR:-}" ]; then
  SF_DIR="$SPOTFERRY_NODE_DIR/spotferry"; USE_SYSTEMD=0; MAY_INSTALL=0
else
  SF_DIR=/opt/spotferry; MAY_INSTALL=1
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

# Node ${NODE_MAJOR} as NODE_BIN: the one on PATH, AL2023's namespaced node-NN, or an official build under /usr/local.
node_ok() { "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) === ${NODE_MAJOR} ? 0 : 1)' >/dev/null 2>&1; }
find_node() {
  local c
  for c in node node-${NODE_MAJOR} /usr/local/bin/node; do
    if command -v "$c" >/dev/null 2>&1 && node_ok "$c"; then NODE_BIN=$(command -v "$c"); return 0; fi
  done
  return 1
}
install_node_tarball() {
  local arch name base tmp
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) die "no Node.js build for $(uname -m)" ;; esac
  name="node-v$NODE_VERSION-linux-$arch.tar.gz"; base="https://nodejs.org/dist/v$NODE_VERSION"; tmp=$(mktemp -d)
  curl -fsSL --retry 5 --retry-all-errors --connect-timeout 10 -o "$tmp/$name" "$base/$name"
  curl -fsSL --retry 5 --retry-all-errors --connect-timeout 10 -o "$tmp/SHASUMS256.txt" "$base/SHASUMS256.txt"
  (cd "$tmp" && grep " $name\\$" SHASUMS256.txt | sha256sum -c --status -) || die "Node.js $NODE_VERSION does not match its SHASUMS256.txt"
  tar -xzf "$tmp/$name" -C /usr/local --strip-components=1 --no-same-owner
  rm -rf "$tmp"
}
if ! find_node; then
  [ "$MAY_INSTALL" = 1 ] || die "no Node.js ${NODE_MAJOR} on PATH"
  . /etc/os-release 2>/dev/null || true
  say "installing Node.js (\${ID:-unknown} \${VERSION_ID:-})"
  case "\${ID:-}" in
    amzn) dnf install -y -q nodejs${NODE_MAJOR} || true ;;
    ubuntu | debian) (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs) || true ;;
  esac
  find_node || install_node_tarball
  find_node || die "Node.js ${NODE_MAJOR} could not be installed"
fi
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
AGENT=("$NODE_BIN" "$INSTALL/spotferry-agent.mjs" --config "$SF_DIR/etc/agent.json" \${AGENT_FLAGS[@]+"\${AGENT_FLAGS[@]}"})

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
