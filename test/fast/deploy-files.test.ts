import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { build } from "esbuild";

/** deploy/: the systemd unit, the environment file, the Dockerfile and the README that lists them. */

const root = join(import.meta.dirname, "..", "..");
const deploy = join(root, "deploy");
const read = (name: string) => readFileSync(join(deploy, name), "utf8");
const UNIT = "spotferry-controller.service";

/** The value of a `Key=value` line of the unit (the first one). */
const directive = (unit: string, key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(unit)?.[1];

describe("systemd unit", () => {
  const unit = read(UNIT);
  const analyze = existsSync("/usr/bin/systemd-analyze") ? false : "systemd-analyze is not installed";

  test("systemd-analyze verify finds nothing", { skip: analyze }, () => {
    // verify wants ExecStart's binary to exist: this host's node stands in for /usr/bin/node.
    const dir = mkdtempSync(join(tmpdir(), "spotferry-unit-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, UNIT), unit.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `));
    const r = spawnSync("/usr/bin/systemd-analyze", ["verify", join(dir, UNIT)], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), "", "no warnings either");
  });

  test("a dedicated user, restart on failure, SIGTERM with time for the pass in progress, hardening", () => {
    assert.equal(directive(unit, "User"), "spotferry");
    assert.equal(directive(unit, "EnvironmentFile"), "/etc/spotferry/controller.env");
    assert.equal(directive(unit, "Restart"), "on-failure");
    assert.equal(directive(unit, "KillSignal"), "SIGTERM");
    assert.ok(Number.parseInt(directive(unit, "TimeoutStopSec") ?? "0", 10) >= 60);
    for (const [k, v] of Object.entries({ NoNewPrivileges: "yes", ProtectSystem: "strict", ProtectHome: "yes", PrivateTmp: "yes" })) {
      assert.equal(directive(unit, k), v, k);
    }
  });
});

describe("controller.env.example", () => {
  test("names every environment variable the controller's code reads, one comment line each", async () => {
    // What `controller run` and the Lambda handler run: the handler's import closure (runController is in it).
    const result = await build({
      absWorkingDir: root,
      entryPoints: ["controller/lambda/handler.ts"],
      bundle: true,
      platform: "node",
      format: "esm",
      write: false,
      metafile: true,
      outdir: join(tmpdir(), "spotferry-env-scan"),
      // Only our own sources are scanned; npm packages read their own variables.
      packages: "external",
      logLevel: "silent",
    });
    const names = new Set<string>();
    for (const file of Object.keys(result.metafile.inputs)) {
      if (file.includes("node_modules")) continue;
      const text = readFileSync(join(root, file), "utf8");
      for (const m of text.matchAll(/\benv(?:\.|\[\s*")([A-Z][A-Z0-9_]+|[a-z]+_[a-z_]+)/g)) names.add(m[1]!);
      for (const m of text.matchAll(/endpointFor\(\s*env\s*,([^)]*)\)/g)) {
        for (const q of m[1]!.matchAll(/"([A-Z0-9_]+)"/g)) names.add(`AWS_ENDPOINT_URL_${q[1]}`);
      }
      for (const m of text.matchAll(/"((?:SPOTFERRY|AWS)_[A-Z0-9_]*[A-Z0-9])"/g)) names.add(m[1]!);
    }
    assert.ok(names.has("AWS_REGION") && names.has("SPOTFERRY_STATE_TABLE"), [...names].join(", "));
    const example = read("controller.env.example");
    const lines = example.split("\n");
    for (const name of names) {
      const at = lines.findIndex((l) => l.replace(/^# /, "").startsWith(`${name}=`));
      assert.ok(at > 0, `controller.env.example lists ${name}`);
      assert.match(lines[at - 1]!, /^# \S/, `${name} has a comment line above it`);
    }
  });
});

describe("Dockerfile", () => {
  const dockerfile = read("Dockerfile");

  test("copies files that exist, runs as non-root, same entry as the unit", () => {
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)) {
      const parts = m[1]!.trim().split(/\s+/);
      for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(root, src)), `COPY ${src}: exists in the checkout`);
    }
    const stages = dockerfile.split(/^FROM /m).slice(1);
    const final = stages.at(-1)!;
    assert.match(final, /^node:24-slim\n/);
    assert.match(final, /^USER (?!root|0\b)\S+$/m);
    const json = (key: string) => JSON.parse(new RegExp(`^${key} (\\[.*\\])$`, "m").exec(final)?.[1] ?? "null") as string[];
    const unitExec = directive(read(UNIT), "ExecStart")!.split(" ");
    assert.deepEqual([...json("ENTRYPOINT"), ...json("CMD")].slice(1), unitExec.slice(1), "ENTRYPOINT + CMD = the unit's ExecStart");
    assert.equal(json("ENTRYPOINT")[0], "node");
    // The Lambda target's handler is the file scripts/build.mjs writes.
    assert.match(dockerfile, /^CMD \["dist\/lambda\/index\.handler"\]$/m);
    assert.match(readFileSync(join(root, "scripts", "build.mjs"), "utf8"), /entryPoints: \{ index: "controller\/lambda\/handler\.ts" \}/);
  });

  const hadolint = spawnSync("hadolint", ["--version"]).status === 0 ? false : "hadolint is not on PATH";
  test("hadolint finds nothing", { skip: hadolint }, () => {
    const r = spawnSync("hadolint", [join(deploy, "Dockerfile")], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});

test("deploy/README.md names every file under deploy/", () => {
  const readme = read("README.md");
  for (const f of readdirSync(deploy)) if (f !== "README.md") assert.ok(readme.includes(`\`${f}\``), `README lists ${f}`);
});
