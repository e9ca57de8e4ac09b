/**
 * The export benchmark's contestants, each a program run as users would run it, measured from outside: wall time,
 * CPU by process (its own tree through /usr/bin/time and /proc, the local stack's servers through /proc), peak RSS
 * per process, and for the product the DynamoDB requests it made (through the counting proxy).
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DeleteObjectsCommand, paginateListObjectsV2, type S3Client } from "@aws-sdk/client-s3";
import type { CountingProxy } from "./dynamo-proxy.ts";
import { diffCpu, type ProcFigures, sampleTree, snapshotCpu } from "./proc-sampler.ts";

export interface Ctx {
  root: string;
  env: NodeJS.ProcessEnv;
  database: string;
  services: Record<string, number[]>;
  proxy: CountingProxy;
  s3: S3Client;
  bucket: string;
  stateTable: string;
  tmp: string;
  tag: string;
}

export interface Measured {
  name: string;
  table: string;
  rows: number;
  wall: number;
  /** The planning step of the product run (from its log line), seconds. */
  planningSecs: number | null;
  /** CPU seconds by role: the measured program (client / agents / controller) and the stack's servers. */
  cpu: Record<string, number>;
  /** Peak RSS of the largest process of the tree (for the product: of the largest agent), MB. */
  peakRssMb: number;
  /** Peak RSS of each agent process (the product only), MB; a supervisor of `--processes` children first of its node. */
  agentRssMb: number[];
  /** Which of agentRssMb are supervisors (an agent process that started agent processes of its own). */
  agentSupervisor: boolean[];
  /** Peak RSS of the `export run` process itself (planning, reconcilers, finalize), MB. */
  controllerRssMb: number | null;
  outBytes: number;
  ddbWrites: number | null;
  failed: string | null;
}

interface RunResult {
  code: number | null;
  wall: number;
  tree: ProcFigures[];
  treeCpu: number;
  /** ru_maxrss of the largest reaped process of the tree (/usr/bin/time %M), MB: catches what a 100 ms sample misses. */
  maxRssMb: number;
  services: Record<string, number>;
  stdout: string;
  stderr: string;
}

/** Runs argv under /usr/bin/time (exact CPU of the whole tree once reaped) while sampling its tree. */
async function measure(
  ctx: Ctx,
  o: { argv: string[]; env?: NodeJS.ProcessEnv; stdoutFile?: string; timeoutMs: number },
): Promise<RunResult> {
  const timeFile = join(ctx.tmp, `time-${process.hrtime.bigint()}`);
  const outFd = o.stdoutFile ? openSync(o.stdoutFile, "w") : null;
  const before = snapshotCpu(ctx.services);
  const t0 = performance.now();
  const child = spawn("/usr/bin/time", ["-o", timeFile, "-f", "%U %S %M", ...o.argv], {
    env: o.env ?? ctx.env,
    stdio: ["ignore", outFd ?? "pipe", "pipe"],
    detached: true,
  });
  const sampler = sampleTree(child.pid as number);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d));
  child.stderr?.on("data", (d: Buffer) => (stderr += d));
  const timer = setTimeout(() => {
    stderr += `\n(killed after ${o.timeoutMs / 1000} s)`;
    try {
      process.kill(-(child.pid as number), "SIGKILL");
    } catch {}
  }, o.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  clearTimeout(timer);
  const wall = (performance.now() - t0) / 1000;
  const tree = sampler.stop();
  const services = diffCpu(snapshotCpu(ctx.services), before);
  if (outFd !== null) closeSync(outFd);
  const times = existsSync(timeFile) ? (readFileSync(timeFile, "utf8").trim().split("\n").pop() ?? "") : "";
  rmSync(timeFile, { force: true });
  const [u, s, kb] = times.split(" ").map(Number);
  return { code, wall, tree, treeCpu: (u ?? Number.NaN) + (s ?? Number.NaN), maxRssMb: (kb ?? 0) / 1024, services, stdout, stderr };
}

/** What a failed run said: its error lines if it printed any, else its last lines. */
function why(text: string): string {
  const lines = text.trim().split("\n");
  const errors = lines.filter((l) => /error|failed|did not finish|killed after/i.test(l));
  return (errors.length ? errors.slice(0, 3) : lines.slice(-3)).join(" | ").slice(0, 600);
}

function base(name: string, table: string, r: RunResult): Measured {
  const own = r.tree.filter((p) => !p.args.startsWith("/usr/bin/time"));
  return {
    name,
    table,
    rows: 0,
    wall: r.wall,
    planningSecs: null,
    cpu: { client: r.treeCpu, ...r.services },
    peakRssMb: Math.max(r.maxRssMb, ...own.map((p) => p.peakRssMb)),
    agentRssMb: [],
    agentSupervisor: [],
    controllerRssMb: null,
    outBytes: 0,
    ddbWrites: null,
    failed: r.code === 0 ? null : `exit ${r.code}: ${why(r.stderr)}`,
  };
}

function mysqlArgs(ctx: Ctx): string[] {
  const e = ctx.env;
  return ["-h", String(e.SPOTFERRY_MYSQL_HOST), "-P", String(e.SPOTFERRY_MYSQL_PORT), "-u", String(e.SPOTFERRY_MYSQL_USER)];
}

/** `mariadb --quick --batch -e 'SELECT * ...' > file`, the baseline of the issue. */
export async function runCClient(ctx: Ctx, table: string, timeoutMs: number): Promise<Measured> {
  const file = join(ctx.tmp, `${table}.tsv`);
  const argv = ["mariadb", "--quick", "--batch", ...mysqlArgs(ctx), "-e", `SELECT * FROM \`${ctx.database}\`.\`${table}\``];
  const r = await measure(ctx, { argv, env: { ...ctx.env, MYSQL_PWD: ctx.env.SPOTFERRY_MYSQL_PASSWORD }, stdoutFile: file, timeoutMs });
  const m = base("C client: mariadb --quick --batch > file", table, r);
  m.outBytes = statSync(file).size;
  const lines = Number(spawnSync("wc", ["-l", file], { encoding: "utf8" }).stdout.trim().split(/\s+/)[0]);
  m.rows = Math.max(0, lines - 1);
  rmSync(file, { force: true });
  return m;
}

export function haveMydumper(): boolean {
  return spawnSync("mydumper", ["--version"], { encoding: "utf8" }).status === 0;
}

/** `mydumper --threads 2 --rows 500000 [-c]` into a fresh directory, removed afterwards. */
export async function runMydumper(ctx: Ctx, o: { table: string; rows: number; compress: boolean; timeoutMs: number }): Promise<Measured> {
  const dir = join(ctx.tmp, `mydumper-${o.compress ? "c" : "plain"}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const argv = [
    "mydumper",
    ...mysqlArgs(ctx),
    "-p",
    String(ctx.env.SPOTFERRY_MYSQL_PASSWORD),
    "-B",
    ctx.database,
    "-T",
    o.table,
    "--threads",
    "2",
    "--rows",
    "500000",
    // FLUSH TABLES WITH READ LOCK needs RELOAD, which the stack's user lacks; the product takes no lock either.
    "--no-locks",
    "-o",
    dir,
    ...(o.compress ? ["-c"] : []),
  ];
  const r = await measure(ctx, { argv, timeoutMs: o.timeoutMs });
  const m = base(`mydumper --threads 2 --rows 500000${o.compress ? " -c" : ""}`, o.table, r);
  m.rows = o.rows;
  m.outBytes = readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  rmSync(dir, { recursive: true, force: true });
  return m;
}

/** Deletes what one product run wrote under its prefix. */
async function dropPrefix(s3: S3Client, bucket: string, prefix: string): Promise<void> {
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key ?? "" }));
    if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
}

/** The first error-looking lines of the run's agent logs, to say what failed. */
function agentErrors(ctx: Ctx, exportId: string): string {
  const dir = join(ctx.root, ".spotferry", "logs", exportId);
  if (!existsSync(dir)) return "";
  const lines: string[] = [];
  for (const f of readdirSync(dir)) {
    for (const l of readFileSync(join(dir, f), "utf8").split("\n"))
      if (/error|fail|quarantin|exited: code [1-9]/i.test(l)) lines.push(`${f}: ${l.slice(0, 300)}`);
  }
  return lines.slice(0, 4).join(" | ");
}

/** `spotferry export run --config X --local --workers N`, Parquet zstd unless `output` says, planning and finalize included. */
export async function runProduct(
  ctx: Ctx,
  o: {
    table: string;
    workers: number;
    partitions: number;
    rows: number;
    timeoutMs: number;
    label: string;
    output?: { format: "parquet" | "csv" | "ndjson"; compression: string };
  },
): Promise<Measured> {
  const exportId = `bench-${o.table.replace(/_/g, "-")}-w${o.workers}-${ctx.tag}-${process.hrtime.bigint() % 100000n}`;
  const specFile = join(ctx.tmp, `${exportId}.json`);
  const spec = {
    kind: "Export",
    name: exportId.slice(0, 63),
    pool: `bench-${ctx.tag}`,
    source: {
      host: ctx.env.SPOTFERRY_MYSQL_HOST,
      port: Number(ctx.env.SPOTFERRY_MYSQL_PORT),
      user: ctx.env.SPOTFERRY_MYSQL_USER,
      password: { env: "SPOTFERRY_MYSQL_PASSWORD" },
      database: ctx.database,
      table: o.table,
    },
    destination: { bucket: ctx.bucket, prefix: `${exportId}/`, ...(o.output ?? { format: "parquet", compression: "zstd" }) },
    partitioning: { targetRows: Math.max(1000, Math.ceil(o.rows / o.partitions)) },
    retry: { maxAttempts: 2, backoff: "1s" },
  };
  writeFileSync(specFile, JSON.stringify(spec));
  const argv = [process.execPath, join(ctx.root, "bin", "spotferry.mjs"), "export", "run", "--config", specFile, "--local"];
  argv.push("--workers", String(o.workers), "--id", exportId, "--json");
  const env = { ...ctx.env, SPOTFERRY_STATE_TABLE: ctx.stateTable, AWS_ENDPOINT_URL_DYNAMODB: ctx.proxy.url };
  ctx.proxy.reset();
  const r = await measure(ctx, { argv, env, timeoutMs: o.timeoutMs });
  const m = base(o.label, o.table, r);
  const agents = r.tree.filter((p) => / agent run /.test(p.args));
  // Own CPU summed: an agent may supervise agent processes of its own (`--processes`), whose CPU its `cpu` repeats.
  const agentCpu = agents.reduce((s, p) => s + p.cpuOwn, 0);
  m.cpu = { agent: agentCpu, controller: r.treeCpu - agentCpu, ...r.services };
  m.agentRssMb = agents.map((p) => p.peakRssMb);
  m.agentSupervisor = agents.map((p) => agents.some((c) => c.ppid === p.pid));
  m.peakRssMb = Math.max(0, ...m.agentRssMb);
  m.controllerRssMb = Math.max(0, ...r.tree.filter((p) => / export run /.test(p.args)).map((p) => p.peakRssMb));
  m.ddbWrites = ctx.proxy.writes();
  const planned = /planned \S+: .*\((\d+) ms\)/.exec(r.stderr);
  m.planningSecs = planned ? Number(planned[1]) / 1000 : null;
  if (r.code === 0) {
    const summary = JSON.parse(r.stdout.trim() || "{}") as { rows?: number; bytes?: number };
    m.rows = summary.rows ?? 0;
    m.outBytes = summary.bytes ?? 0;
    rmSync(join(ctx.root, ".spotferry", "logs", exportId), { recursive: true, force: true });
  } else {
    const why = agentErrors(ctx, exportId);
    m.failed = `${m.failed}${why ? ` | agents: ${why}` : ""} (logs: .spotferry/logs/${exportId}/)`;
  }
  await dropPrefix(ctx.s3, ctx.bucket, `${exportId}/`);
  rmSync(specFile, { force: true });
  return m;
}
