import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { isAlive } from "../../sim/stack/proc.ts";
import { repoRoot } from "../../sim/stack/stack.ts";

const run = promisify(execFile);

// A private stack in its own home: `up` twice reuses, `status` is healthy, `down` leaves none of its processes.
const home = mkdtempSync(join(tmpdir(), "spotferry-stack-"));
const env = { ...process.env, SPOTFERRY_HOME: home, SPOTFERRY_CACHE: join(repoRoot, ".spotferry", "cache") };
const cli = (...args: string[]) => run(process.execPath, [join(repoRoot, "bin", "spotferry.mjs"), ...args], { env, cwd: repoRoot });

after(async () => {
  await cli("local", "down").catch(() => {});
  rmSync(home, { recursive: true, force: true });
});

test("local up is idempotent (even raced), status reports health, down stops exactly what up started", async () => {
  // Two at once: the lock makes the second wait and reuse what the first started, so nothing is started twice.
  const [first, raced] = await Promise.all([cli("local", "up"), cli("local", "up")]);
  assert.match(`${first.stderr}\n${raced.stderr}`, /started: none; reused:/, "one of the raced ups reused the other's services");
  assert.match(first.stderr, /started: mariadb, s3, dynamodb|started: [a-z, 0-9]+/);
  const envText = readFileSync(join(home, "local.env"), "utf8");
  for (const name of [
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "SPOTFERRY_MYSQL_HOST",
    "SPOTFERRY_MYSQL_PORT",
    "SPOTFERRY_MYSQL_USER",
    "SPOTFERRY_MYSQL_PASSWORD",
  ]) {
    assert.match(envText, new RegExp(`^export ${name}=.+$`, "m"), `${name} in local.env`);
  }
  assert.doesNotMatch(envText, /127\.0\.0\.1:(3306|8000|8080)\b/, "ports are chosen free, not fixed defaults");

  const second = await cli("local", "up");
  assert.match(second.stderr, /started: none; reused: (mariadb|dynamodb|s3)/);

  const status = JSON.parse((await cli("local", "status", "--json")).stdout) as { name: string; healthy: boolean; pids: number[] }[];
  assert.deepEqual(
    status.map((s) => [s.name, s.healthy]),
    [
      ["mariadb", true],
      ["dynamodb", true],
      ["s3", true],
      ["sim", true],
    ],
  );
  const pids = status.flatMap((s) => s.pids);
  assert.ok(pids.length >= 8, "mariadb, java, memcached, four swift servers and the sim");

  await cli("local", "down");
  for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} still running after down`);
  const strays = await run("pgrep", ["-f", home]).then(
    (r) => r.stdout.trim(),
    () => "",
  );
  assert.equal(strays, "", "no process of this stack's home is left");
  await assert.rejects(cli("local", "status"), (err: { code: number }) => err.code === 4);
});
