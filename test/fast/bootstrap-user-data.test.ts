import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseHostKeyFingerprints, renderLaunchTemplateData, renderUserData, shq, USER_DATA_LIMIT } from "../../bootstrap/index.ts";
import { poolSpec } from "../../config/pool-spec.ts";

/** Rendering only (no services): shell-quoting, validation, the 16 KiB limit, the IMDSv2-only launch template. */
const base = {
  pool: "etl",
  stateTable: "spotferry-state",
  region: "us-east-1",
  bundleUrl: "https://b.s3.amazonaws.com/agent/x/spotferry-agent.tar.gz?X-Amz-Signature=ab&X-Amz-Expires=3600",
  bundleSha256: "0".repeat(64),
  runtime: {
    url: "https://b.s3.amazonaws.com/runtime/node-v24.22.3-linux-x64/x/node.tar.gz?X-Amz-Signature=cd",
    sha256: "1".repeat(64),
    architecture: "x86_64" as const,
    version: "24.22.3",
  },
};

const bash = (script: string) => spawnSync("bash", ["-c", script], { encoding: "utf8" });

test("shq survives every character bash could misread", () => {
  for (const nasty of ["plain", "", "it's", "a'b'c", "$(touch /tmp/pwned)", "`id`", "x\ny", "tab\there", "\\'\"", "*?[a]", "é🚀"]) {
    const r = bash(`printf '%s' ${shq(nasty)}`);
    assert.equal(r.stdout, nasty, `round trip of ${JSON.stringify(nasty)}`);
  }
  assert.throws(() => shq("a\0b"), /NUL/);
});

test("the user-data is valid bash, quotes every value, and carries settings without secrets", () => {
  const script = renderUserData({
    ...base,
    env: { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9000", SPOTFERRY_LOG_LEVEL: "debug" },
    agentFlags: ["--idle-exit", "5m", "--concurrency", "2"],
  });
  assert.ok(script.startsWith("#!/bin/bash\n"));
  assert.match(script, /^set -euo pipefail$/m);
  assert.equal(bash(`bash -n <<'EOF'\n${script}\nEOF`).status, 0, "bash -n accepts it");
  // Each variable assignment is one single-quoted word; evaluating them gives back exactly the inputs.
  const vars = script.slice(script.indexOf("POOL="), script.indexOf("\nsay() "));
  const r = bash(
    `${vars}\nprintf '%s|%s|%s|%s\\n' "$POOL" "$BUNDLE_URL" "$BUNDLE_SHA256" "\${AGENT_FLAGS[*]}"; printf '%s|%s|%s|%s\\n' "$RUNTIME_URL" "$RUNTIME_SHA256" "$RUNTIME_ARCH" "$NODE_VERSION"; printf '%s' "$SETTINGS_JSON"; printf '%s' "$AGENT_ENV"`,
  );
  const [head, runtime, ...rest] = r.stdout.split("\n");
  assert.equal(head, `etl|${base.bundleUrl}|${base.bundleSha256}|--idle-exit 5m --concurrency 2`);
  assert.equal(runtime, `${base.runtime.url}|${base.runtime.sha256}|x86_64|24.22.3`);
  const settingsText = rest.join("\n");
  assert.deepEqual(JSON.parse(settingsText.slice(0, settingsText.indexOf("}") + 1)), {
    kind: "AgentSettings",
    pool: "etl",
    stateTable: "spotferry-state",
  });
  assert.match(settingsText, /^AWS_REGION='us-east-1'$/m);
  assert.match(settingsText, /^AWS_ENDPOINT_URL_S3='http:\/\/127\.0\.0\.1:9000'$/m);
  // glibc's settings for the agent's buffers (config/settings.ts AGENT_PROCESS_ENV), read at process start.
  assert.match(settingsText, /^MALLOC_MMAP_THRESHOLD_='262144'$/m);
  // Systemd with its drain budget, SIGTERM, restart on failure; foreground exec otherwise.
  assert.match(script, /Restart=on-failure/);
  assert.match(script, /KillSignal=SIGTERM/);
  assert.match(script, /TimeoutStopSec=110/);
  assert.match(script, /\[ -d \/run\/systemd\/system \]/);
  assert.match(script, /exec "\$\{AGENT\[@\]\}"/);
  assert.match(script, /sha256sum "\$ARCHIVE.part"/);
  // Node comes from the artifact bucket like the bundle, checked by the binary's SHA-256; nothing else is downloaded.
  assert.match(script, /sha256sum "\$RUNTIME.tmp\/bin\/node"/);
  assert.deepEqual(
    [...script.matchAll(/^\s*curl [^\n]*"(\$[A-Z_]+)"( \|\|)?$/gm)].map((m) => m[1]),
    ["$RUNTIME_URL", "$BUNDLE_URL"],
  );
  assert.doesNotMatch(script, /nodejs\.org|dnf |apt-get|npm /);
  assert.match(script, /BEGIN SSH HOST KEY FINGERPRINTS/);
  assert.doesNotMatch(script, /AWS_SECRET_ACCESS_KEY|PASSWORD/);
});

test("injection attempts and secrets are refused with the field named", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ pool: "etl'; rm -rf /; '" }, /pool: must be a pool name/],
    [{ pool: "etl\nreboot" }, /pool/],
    [{ stateTable: "x y" }, /stateTable/],
    [{ region: "us-east-1; id" }, /region/],
    [{ bundleUrl: "https://x/a'b" }, /bundleUrl/],
    [{ bundleUrl: "file:///etc/passwd" }, /bundleUrl/],
    [{ bundleSha256: "abc" }, /bundleSha256/],
    [{ runtime: undefined }, /runtime: /],
    [{ runtime: { ...base.runtime, url: "https://x/a b" } }, /runtime\.url/],
    [{ runtime: { ...base.runtime, sha256: "X".repeat(64) } }, /runtime\.sha256/],
    [{ runtime: { ...base.runtime, architecture: "i386" } }, /runtime\.architecture/],
    [{ runtime: { ...base.runtime, version: "24" } }, /runtime\.version/],
    [{ agentFlags: ["--pool", "a b"] }, /agentFlags\.1: must be a plain word/],
    [{ agentFlags: ["$(id)"] }, /agentFlags\.0/],
    [{ env: { AWS_SECRET_ACCESS_KEY: "x" } }, /looks like a secret/],
    [{ env: { SPOTFERRY_MYSQL_PASSWORD: "x" } }, /looks like a secret/],
    [{ env: { "BAD-NAME": "x" } }, /environment variable name/],
    [{ env: { A: "x'y" } }, /env\.A: must not contain quotes/],
    [{ env: { A: "x\ny" } }, /env\.A/],
    [{ extra: 1 }, /Unrecognized key/i],
  ];
  for (const [override, message] of bad) {
    assert.throws(() => renderUserData({ ...base, ...override } as never), message, JSON.stringify(override));
  }
});

test("a node whose architecture is not the runtime's stops at once, naming both", () => {
  const dir = mkdtempSync(join(tmpdir(), "sf-userdata-arch-"));
  try {
    const other = process.arch === "arm64" ? "x86_64" : "arm64";
    const script = renderUserData({ ...base, runtime: { ...base.runtime, architecture: other } });
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8", env: { PATH: process.env.PATH, SPOTFERRY_NODE_DIR: dir } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`the pool's Node runtime is for ${other}: set the pool's architecture`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("user-data over EC2's 16 KiB is refused", () => {
  const env = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`VAR_${i}`, "x".repeat(80)]));
  assert.throws(() => renderUserData({ ...base, env }), new RegExp(`over EC2's ${USER_DATA_LIMIT}-byte limit`));
  assert.ok(Buffer.byteLength(renderUserData(base)) < 8 * 1024, "the plain script leaves room");
});

test("the launch template is IMDSv2-only and tags instances and volumes with the pool", () => {
  const pool = poolSpec.parse({
    kind: "Pool",
    name: "etl",
    instanceTypes: ["m6i.large", "m5.large"],
    subnets: ["subnet-a"],
    imageId: "ami-0abc",
    securityGroupIds: ["sg-0123"],
    instanceProfileArn: "arn:aws:iam::123456789012:instance-profile/spotferry-node",
    keyName: "ops",
    capacity: { max: 4 },
    tags: { team: "data" },
  });
  const userData = Buffer.from(renderUserData(base)).toString("base64");
  const lt = renderLaunchTemplateData(pool, userData, { generation: 3 });
  assert.deepEqual(lt.MetadataOptions, {
    HttpTokens: "required",
    HttpEndpoint: "enabled",
    HttpPutResponseHopLimit: 1,
    InstanceMetadataTags: "enabled",
  });
  assert.equal(lt.ImageId, "ami-0abc");
  assert.deepEqual(lt.IamInstanceProfile, { Arn: "arn:aws:iam::123456789012:instance-profile/spotferry-node" });
  assert.deepEqual(lt.SecurityGroupIds, ["sg-0123"]);
  assert.equal(lt.KeyName, "ops");
  assert.equal(lt.UserData, userData);
  assert.deepEqual(
    lt.TagSpecifications?.map((s) => s.ResourceType),
    ["instance", "volume"],
  );
  const tags = Object.fromEntries(lt.TagSpecifications?.[0]?.Tags?.map((t) => [t.Key, t.Value]) ?? []);
  assert.equal(tags["spotferry:pool"], "etl");
  assert.equal(tags["spotferry:generation"], "3");
  assert.equal(tags.team, "data");
  assert.throws(() => renderLaunchTemplateData({ ...pool, tags: { "aws:x": "1" } }, userData), /reserved prefix/);
  assert.throws(() => renderLaunchTemplateData(pool, "not base64!"), /not base64/);
  const big = Buffer.alloc(USER_DATA_LIMIT + 1, 65).toString("base64");
  assert.throws(() => renderLaunchTemplateData(pool, big), /over EC2's 16384-byte limit/);
});

test("host key fingerprints are read from a cloud-init style console, conflicting blocks are refused", () => {
  const fp = "SHA256:" + "A".repeat(43);
  const other = "SHA256:" + "B".repeat(43);
  const console = [
    "[   12.3] cloud-init[800]: ...",
    "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
    "ec2: 256 SHA256:" + "C".repeat(43) + " root@ip-10-0-0-1 (ECDSA)",
    `ec2: 256 ${fp} root@ip-10-0-0-1 (ED25519)`,
    "ec2: -----END SSH HOST KEY FINGERPRINTS-----",
    "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
    `256 ${fp} root@i-0abc (ED25519)`,
    "-----END SSH HOST KEY FINGERPRINTS-----",
    `256 ${other} outside any block (ED25519)`,
  ].join("\n");
  const keys = parseHostKeyFingerprints(console);
  assert.equal(keys.get("ED25519"), fp);
  assert.equal(keys.size, 2);
  const forged = `${console}\n-----BEGIN SSH HOST KEY FINGERPRINTS-----\n256 ${other} x (ED25519)\n-----END SSH HOST KEY FINGERPRINTS-----\n`;
  assert.throws(() => parseHostKeyFingerprints(forged), /two different ED25519 host keys/);
});
