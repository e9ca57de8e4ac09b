import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse } from "yaml";
import { progressBar } from "../../controller/cli/export-run-commands.ts";
import { profileRegion, region } from "../../lib/aws/env.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { colorEnabled, painter } from "../../lib/cli/color.ts";
import { applyGlobalFlags } from "../../lib/cli/global-options.ts";
import { type Column, formatData, formatNumber, outputFormat, renderColumns } from "../../lib/cli/output.ts";
import { FakeClock } from "../../lib/clock.ts";
import { ExitCode, UserError, unavailableReason } from "../../lib/errors.ts";
import type { ExportProgress } from "../../lib/jobs/job-store.ts";
import { cli } from "../helpers/snapshot.ts";

// Issue 17 item 4: the CLI's conventions. Output formats and the one renderer, colour only on a terminal, --profile and
// --region over the shared config files, exit 3 for missing credentials or an unreachable service, and a progress
// line whose rate and ETA are windowed (no "ETA NFs" before a rate is known).

const dir = mkdtempSync(join(tmpdir(), "sf-cli-conventions-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("columns: capitals, two spaces, no boxes or rules, numbers with separators, '-' for empty, one line per row", () => {
  type Row = { name: string; rows: number; note: string | null; extra: string };
  const columns: Column<Row>[] = [
    { header: "name", value: (r) => r.name },
    { header: "rows", value: (r) => r.rows, align: "right" },
    { header: "extra", value: (r) => r.extra, wide: true },
    { header: "note", value: (r) => r.note },
  ];
  const rows: Row[] = [
    { name: "a", rows: 1234567, note: null, extra: "x" },
    { name: "bbbb", rows: 5, note: "two\nlines", extra: "y" },
  ];
  const text = renderColumns(columns, rows);
  assert.equal(text, "NAME       ROWS  NOTE\na     1,234,567  -\nbbbb          5  two; lines\n");
  assert.doesNotMatch(text, /[│┌─┼]/);
  // awk '{print $2}' reads a column.
  assert.deepEqual(
    text
      .trim()
      .split("\n")
      .map((l) => l.split(/\s+/)[1]),
    ["ROWS", "1,234,567", "5"],
  );
  assert.match(renderColumns(columns, rows, { wide: true }), /^NAME\s+ROWS\s+EXTRA\s+NOTE\n/);
  assert.equal(formatNumber(12_000_000), "12,000,000");
  assert.equal(formatNumber(2n ** 64n - 1n), "18,446,744,073,709,551,615");
});

test("-o json|yaml|wide and --json: --json is -o json; bad or conflicting formats are usage errors (exit 2)", async () => {
  assert.equal(outputFormat({}), "table");
  assert.equal(outputFormat({ json: true }), "json");
  assert.equal(outputFormat({ output: "yaml" }), "yaml");
  assert.equal(outputFormat({ output: "wide" }), "wide");
  for (const flags of [{ output: "xml" }, { json: true, output: "yaml" }]) {
    assert.throws(
      () => outputFormat(flags),
      (e) => e instanceof UserError && e.exitCode === ExitCode.usage,
    );
  }
  const value = { id: 12345678901234567890n, rows: 1234567, name: "x" };
  // The JSON is what --json always printed (2-space indent, BigInt as text, no separators); YAML reads back the same.
  assert.equal(await formatData(value, "json"), `${JSON.stringify({ ...value, id: "12345678901234567890" }, null, 2)}\n`);
  assert.deepEqual(parse(await formatData(value, "yaml")), { id: "12345678901234567890", rows: 1234567, name: "x" });
});

test("colour: only on a terminal; NO_COLOR wins; FORCE_COLOR forces it (0/false turn it off); TERM=dumb has none", () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  assert.equal(colorEnabled(pipe, {}), false);
  assert.equal(colorEnabled(tty, {}), true);
  assert.equal(colorEnabled(tty, { NO_COLOR: "1" }), false);
  assert.equal(colorEnabled(tty, { NO_COLOR: "1", FORCE_COLOR: "1" }), false);
  assert.equal(colorEnabled(pipe, { FORCE_COLOR: "1" }), true);
  assert.equal(colorEnabled(tty, { FORCE_COLOR: "0" }), false);
  assert.equal(colorEnabled(tty, { TERM: "dumb" }), false);
  assert.equal(painter(pipe, {})("red", "CRITICAL"), "CRITICAL");
  assert.equal(painter(tty, {})("red", "CRITICAL"), "\x1b[31mCRITICAL\x1b[0m");
});

function sharedFiles(name: string, files: { config?: string; credentials?: string }) {
  const config = join(dir, `${name}.config`);
  const credentials = join(dir, `${name}.credentials`);
  writeFileSync(config, files.config ?? "");
  writeFileSync(credentials, files.credentials ?? "");
  return { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials };
}

test("region: --region (AWS_REGION) > AWS_DEFAULT_REGION > the profile's region (credentials, then config file) > us-east-1", () => {
  const files = sharedFiles("region", {
    config: "[default]\nregion = eu-west-1\n\n[profile ops]\nregion=ap-south-1\ns3 =\n  region = nope\n[profile bare]\noutput = json\n",
    credentials: "[creds]\naws_access_key_id = A\nregion = ca-central-1\n",
  });
  assert.equal(region({ ...files }), "eu-west-1");
  assert.equal(region({ ...files, AWS_PROFILE: "ops" }), "ap-south-1");
  assert.equal(region({ ...files, AWS_PROFILE: "creds" }), "ca-central-1");
  assert.equal(region({ ...files, AWS_PROFILE: "bare" }), "us-east-1");
  assert.equal(region({ ...files, AWS_PROFILE: "ops", AWS_DEFAULT_REGION: "sa-east-1" }), "sa-east-1");
  assert.equal(region({ ...files, AWS_PROFILE: "ops", AWS_DEFAULT_REGION: "sa-east-1", AWS_REGION: "us-west-2" }), "us-west-2");
  assert.equal(profileRegion({ AWS_CONFIG_FILE: join(dir, "missing"), AWS_SHARED_CREDENTIALS_FILE: join(dir, "missing") }), undefined);
});

test("--profile and --region: the SDK client takes that profile's keys and region; the command line beats AWS_* keys", async () => {
  const files = sharedFiles("profile", {
    config: "[profile ops]\nregion = eu-central-1\n",
    credentials: "[ops]\naws_access_key_id = OPSKEY\naws_secret_access_key = OPSSECRET\n",
  });
  const env: Record<string, string | undefined> = { ...files, AWS_ACCESS_KEY_ID: "ENVKEY", AWS_SECRET_ACCESS_KEY: "ENVSECRET" };
  applyGlobalFlags({ profile: "ops" }, env);
  assert.equal(env.AWS_PROFILE, "ops");
  assert.equal(env.AWS_ACCESS_KEY_ID, undefined);
  // The SDK reads the shared files' paths from the process environment.
  Object.assign(process.env, files);
  const client = s3Client(env);
  try {
    assert.equal(await client.config.region(), "eu-central-1");
    const creds = await client.config.credentials();
    assert.deepEqual([creds.accessKeyId, creds.secretAccessKey], ["OPSKEY", "OPSSECRET"]);
  } finally {
    client.destroy();
  }
  applyGlobalFlags({ region: "ap-northeast-1" }, env);
  assert.equal(region(env), "ap-northeast-1");
  assert.throws(
    () => applyGlobalFlags({ region: "Mars" }, env),
    (e) => e instanceof UserError && e.exitCode === ExitCode.usage,
  );
});

test("unavailableReason: missing credentials and network failures (anywhere in the causes) are exit-3 conditions", () => {
  const noCreds = Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" });
  assert.match(unavailableReason(new Error("reading the layout", { cause: noCreds })) ?? "", /no AWS credentials/);
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
  assert.match(unavailableReason(new Error("reading", { cause: refused })) ?? "", /unreachable \(ECONNREFUSED\)/);
  const both = Object.assign(new AggregateError([refused]), { code: undefined });
  assert.match(unavailableReason(both) ?? "", /ECONNREFUSED/);
  assert.equal(unavailableReason(new Error("export e-1 not found")), null);
});

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test("the CLI exits 3 (as the README documents) for an unreachable DynamoDB and for missing credentials", async () => {
  const port = await closedPort();
  const base = {
    AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${port}`,
    AWS_MAX_ATTEMPTS: "1",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_REGION: "us-east-1",
    ...sharedFiles("cli", { credentials: "[good]\naws_access_key_id = K\naws_secret_access_key = S\n", config: "[profile nokeys]\n" }),
  };
  const unreachable = await cli(["status"], { ...base, AWS_ACCESS_KEY_ID: "K", AWS_SECRET_ACCESS_KEY: "S" });
  assert.equal(unreachable.code, 3, unreachable.stderr);
  assert.match(unreachable.stderr, /ECONNREFUSED/);
  // The profile's keys reach the same closed port: --profile resolved credentials, so the failure is the endpoint.
  const viaProfile = await cli(["exports", "--profile", "good"], { ...base, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "" });
  assert.equal(viaProfile.code, 3, viaProfile.stderr);
  assert.match(viaProfile.stderr, /ECONNREFUSED/);
  // A profile without keys: the environment's keys are not used behind its back, and the message says what is missing.
  const noKeys = await cli(["nodes", "--profile", "nokeys"], { ...base, AWS_ACCESS_KEY_ID: "K", AWS_SECRET_ACCESS_KEY: "S" });
  assert.equal(noKeys.code, 3, noKeys.stderr);
  assert.match(noKeys.stderr, /no AWS credentials/);
  for (const r of [unreachable, viaProfile, noKeys]) assert.ok(!(r.stdout + r.stderr).includes("\x1b"));
  const badFormat = await cli(["exports", "-o", "xml"], base);
  assert.deepEqual([badFormat.code, badFormat.stderr], [2, 'error: -o: expected one of json|yaml|wide, got "xml"\n']);
});

function progress(rows: number, done: number): ExportProgress {
  const b = { partitions: 0, rows: 0, estimatedRows: 0, chunks: 0 };
  return {
    total: { partitions: 10, rows, estimatedRows: 100_000, chunks: 0 },
    byState: { LEASED: b, PENDING: b, QUARANTINED: b, DONE: { ...b, partitions: done } },
    owners: {},
  } as unknown as ExportProgress;
}

test("export run's progress: 'ETA –' until a rate is known, then the windowed rate, not the lifetime average", () => {
  const clock = new FakeClock();
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
  const bar = progressBar(1_000_000, clock, stream);
  bar.update(progress(0, 0), 2);
  assert.match(lines[0] as string, /, – rows\/s, ETA –, 2 agents/);
  assert.doesNotMatch(lines.join(""), /NF|Infinity|NaN/);
  // 1,000 rows/s for 120 s, then 10,000 rows/s for 60 s: the lifetime average would say 4,000.
  let rows = 0;
  for (let s = 1; s <= 180; s++) {
    clock.advance(1000);
    rows += s <= 120 ? 1000 : 10_000;
    bar.update(progress(rows, 1), 2);
  }
  const last = lines.at(-1) as string;
  const rate = Number((/, ([\d,]+) rows\/s/.exec(last)?.[1] ?? "0").replaceAll(",", ""));
  assert.ok(rate > 9000 && rate <= 10_000, last);
  assert.match(last, /ETA \d+s,/); // 1,000,000 - 720,000 rows at ~10,000/s: under a minute
  bar.stop();
});

test("export run's progress bar on a terminal: 'ETA –' at start, then the window's ETA (never cli-progress's own)", () => {
  const clock = new FakeClock();
  const out: string[] = [];
  const tty = {
    isTTY: true,
    columns: 200,
    write: (s: string) => out.push(s) > 0,
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
    on() {},
    removeListener() {},
  } as unknown as NodeJS.WriteStream;
  const bar = progressBar(100_000, clock, tty);
  bar.update(progress(0, 0), 2);
  for (let s = 1; s <= 10; s++) {
    clock.advance(1000);
    bar.update(progress(s * 2000, 1), 2);
  }
  bar.stop();
  const frames = out.filter((s) => s.includes("ETA"));
  assert.match(frames[0] as string, /– rows\/s \| ETA – \|/);
  assert.match(frames.at(-1) as string, /20,000\/100,000 rows \| 2,000 rows\/s \| ETA 40s \|/);
  assert.doesNotMatch(out.join(""), /NF|Infinity|NaN/);
});
