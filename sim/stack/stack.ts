import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { repoRoot } from "../../lib/paths.ts";
import { readSimState, simDown, simUp } from "../daemon.ts";
import { SIM_REQUIREMENTS } from "../ssh.ts";
import { LOCAL_CREDENTIALS } from "./credentials.ts";
import { dynamodbService } from "./dynamodb.ts";
import { identitiesFile } from "./identities.ts";
import { mariadbService } from "./mariadb.ts";
import { ensurePackages } from "./packages.ts";
import { delay, isAlive, stopGroup } from "./proc.ts";
import type { LocalService, ServiceState, StackContext } from "./service.ts";
import { swiftService } from "./swift.ts";

/**
 * The local stack: real MariaDB, DynamoDB Local and an S3-compatible store on 127.0.0.1, with all state under one
 * private directory. `up` is idempotent (healthy services are reused), `down` stops exactly the process groups it
 * started, and `.spotferry/local.env` carries the standard AWS variables plus the MariaDB connection.
 */
export { repoRoot };

export const SERVICES: LocalService[] = [mariadbService, dynamodbService, swiftService];

export const stackHome = (env: NodeJS.ProcessEnv = process.env) => resolve(env.SPOTFERRY_HOME ?? join(repoRoot, ".spotferry"));

interface StackFile {
  services: Record<string, ServiceState>;
}

const stateFile = (home: string) => join(home, "stack.json");
export const envFile = (home: string) => join(home, "local.env");

function readState(home: string): StackFile {
  try {
    return JSON.parse(readFileSync(stateFile(home), "utf8")) as StackFile;
  } catch {
    return { services: {} };
  }
}

/** The stack's files that hold a password or a key: the owner's alone. */
export const SECRET_FILES = (home: string) => [stateFile(home), envFile(home), identitiesFile(home)];

function writeState(home: string, state: StackFile): void {
  mkdirSync(home, { recursive: true });
  const tmp = `${stateFile(home)}.tmp`;
  // It holds the database password. The mode of writeFileSync applies only to a new file, hence the chmod.
  writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, stateFile(home));
}

/** Older stacks wrote stack.json world-readable: every `up` puts the secret files back to 0600. */
function secureFiles(home: string): void {
  for (const file of SECRET_FILES(home)) if (existsSync(file)) chmodSync(file, 0o600);
}

/** Everything a client needs to reach the stack, as environment variables. */
export function stackEnv(state: StackFile): Record<string, string> {
  const env: Record<string, string> = { ...LOCAL_CREDENTIALS };
  for (const service of SERVICES) {
    const s = state.services[service.name];
    if (s) Object.assign(env, service.env(s));
  }
  return env;
}

function writeEnvFile(home: string, env: Record<string, string>): void {
  const lines = Object.entries(env).map(([k, v]) => `export ${k}=${/^[\w.:/@-]*$/.test(v) ? v : `'${v.replace(/'/g, "'\\''")}'`}`);
  // Not an `export K=V` line, so readEnvFile and the npm scripts skip it: it is for a shell, where it puts Node 24 and
  // `spotferry` itself (a link to this checkout's bin/spotferry.mjs, so the CLI's hints run as printed) first on PATH.
  const own = join(home, "bin");
  mkdirSync(own, { recursive: true });
  rmSync(join(own, "spotferry"), { force: true });
  symlinkSync(join(repoRoot, "bin", "spotferry.mjs"), join(own, "spotferry"));
  const bin = join(repoRoot, "node_modules", ".bin");
  const q = (path: string) => `'${path.replace(/'/g, "'\\''")}'`;
  lines.push(`PATH=${q(own)}:${q(bin)}:"$PATH"; export PATH`);
  writeFileSync(envFile(home), `# written by spotferry local up; source it to reach the local stack\n${lines.join("\n")}\n`, {
    mode: 0o600,
  });
  chmodSync(envFile(home), 0o600);
}

/** Parses a `local.env` written by `up` (only `export K=V` lines). */
export function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!.startsWith("'") ? m[2]!.slice(1, -1).replace(/'\\''/g, "'") : m[2]!;
  }
  return env;
}

export interface UpResult {
  env: Record<string, string>;
  started: string[];
  reused: string[];
}

export function stackUp(ctx: StackContext): Promise<UpResult> {
  return withStackLock(ctx.home, () => up(ctx));
}

export function stackDown(ctx: StackContext): Promise<string[]> {
  return withStackLock(ctx.home, () => down(ctx));
}

/**
 * One `up` or `down` at a time per stack home: two concurrent `up`s (two test runs, a test and the demo) would each
 * start services and one would overwrite the other's record, leaving processes nobody stops. A lock left by a dead
 * process is taken over.
 */
async function withStackLock<T>(home: string, body: () => Promise<T>): Promise<T> {
  mkdirSync(home, { recursive: true });
  const file = join(home, "stack.lock");
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx" });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(readFileSync(file, "utf8").trim());
      if (!isAlive(holder)) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another spotferry process (pid ${holder}) holds ${file}`);
      await delay(250);
    }
  }
  try {
    return await body();
  } finally {
    rmSync(file, { force: true });
  }
}

async function up(ctx: StackContext): Promise<UpResult> {
  // The sim's nodes get an sshd each (sim/ssh.ts): fresh machines install openssh-server here with the rest.
  ensurePackages([...SERVICES.flatMap((s) => s.requirements), ...SIM_REQUIREMENTS], ctx.log);
  secureFiles(ctx.home);
  const state = readState(ctx.home);
  const started: string[] = [];
  const reused: string[] = [];
  // Start services concurrently: MariaDB, the JVM and Swift each take seconds and barely contend. Every start is
  // awaited (allSettled) before the state is written, so one failure cannot hide another service's processes.
  const results = await Promise.allSettled(
    SERVICES.map(async (service) => {
      const previous = state.services[service.name];
      if (previous?.pids.every(isAlive) && (await service.healthy(previous).catch(() => false))) {
        await service.migrate?.(ctx, previous);
        reused.push(service.name);
        return;
      }
      if (previous) for (const pid of previous.pids) if (isAlive(pid)) await stopGroup(pid);
      try {
        state.services[service.name] = await service.start(ctx, previous);
      } catch (cause) {
        throw new Error(`starting ${service.name} (logs under ${ctx.home})`, { cause });
      }
      started.push(service.name);
      ctx.log(`${service.name}: ready on 127.0.0.1:${state.services[service.name]!.port}`);
    }),
  );
  writeState(ctx.home, state);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  const env = stackEnv(state);
  // The keys the sim may hand out as role sessions (sim/stack/identities.ts); a path, not a secret in the env.
  env.SPOTFERRY_SIM_IDENTITIES = identitiesFile(ctx.home);
  // The spot market comes last: its instances inherit the endpoints of the services above.
  const sim = await simUp({ stateDir: join(ctx.home, "sim"), env });
  (sim.alreadyRunning ? reused : started).push("sim");
  if (!sim.alreadyRunning) ctx.log(`sim: ready on ${sim.url}`);
  // The shell and the tests reach S3 and DynamoDB directly; the sim's nodes (and the rehearsal's roles) go through
  // its recording front doors. Everything else the sim serves itself.
  const { AWS_ENDPOINT_URL_S3: _s3, AWS_ENDPOINT_URL_DYNAMODB: _ddb, ...served } = sim.env;
  Object.assign(env, served);
  writeEnvFile(ctx.home, env);
  return { env, started, reused };
}

async function down(ctx: StackContext): Promise<string[]> {
  const state = readState(ctx.home);
  const stopped: string[] = [];
  // The sim first: it terminates its instance processes, which may still talk to the services.
  if (await simDown({ stateDir: join(ctx.home, "sim") })) stopped.push("sim");
  await Promise.all(
    Object.entries(state.services).map(async ([name, s]) => {
      for (const pid of s.pids) if (isAlive(pid)) await stopGroup(pid);
      stopped.push(name);
    }),
  );
  // Keep ports and passwords so the next `up` reuses the datadir and rings as they are.
  for (const s of Object.values(state.services)) s.pids = [];
  writeState(ctx.home, state);
  return stopped;
}

export interface ServiceStatus {
  name: string;
  port: number | null;
  pids: number[];
  running: boolean;
  healthy: boolean;
  error?: string;
}

export async function stackStatus(home: string): Promise<ServiceStatus[]> {
  const state = readState(home);
  const sim = await readSimState(join(home, "sim"));
  let simHealthy = false;
  if (sim)
    simHealthy = await fetch(`${sim.url}/_sim/health`, { signal: AbortSignal.timeout(3000) }).then(
      (r) => r.ok,
      () => false,
    );
  const simStatus: ServiceStatus = {
    name: "sim",
    port: sim?.port ?? null,
    pids: sim ? [sim.pid] : [],
    running: !!sim,
    healthy: simHealthy,
  };
  const services = await Promise.all(
    SERVICES.map(async (service) => {
      const s = state.services[service.name];
      if (!s) return { name: service.name, port: null, pids: [], running: false, healthy: false };
      const running = s.pids.length > 0 && s.pids.every(isAlive);
      let error: string | undefined;
      let healthy = false;
      if (running) {
        try {
          healthy = await service.healthy(s);
        } catch (e) {
          error = (e as Error).message;
        }
      }
      return { name: service.name, port: s.port, pids: s.pids, running, healthy, ...(error ? { error } : {}) };
    }),
  );
  return [...services, simStatus];
}

export const stackIsUp = (home: string) => existsSync(envFile(home));
