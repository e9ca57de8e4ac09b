import { execFile } from "node:child_process";
import { hostname } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import mysql from "mysql2/promise";
import type { AgentBundle } from "../../bootstrap/index.ts";
import { controllerSettings } from "../../config/settings.ts";
import { Ec2Provider } from "../../controller/cloud/ec2-provider.ts";
import { bootstrapTemplateSource } from "../../controller/cloud/node-templates.ts";
import { readManifest } from "../../controller/finalize/finalize.ts";
import { exportCost } from "../../controller/oncall/cost.ts";
import { MysqlSplitFinder } from "../../controller/planner/split-points.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { verifyExport } from "../../controller/verify/verify.ts";
import { credentials, region } from "../../lib/aws/env.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { createStateTable } from "../../lib/dynamo/table.ts";
import { describeError } from "../../lib/errors.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { INSTANCE_TYPES } from "../catalogue.ts";
import { seededRandom } from "../chaos.ts";
import { repoRoot } from "../stack/stack.ts";
import { type ControllerReplica, type FinalizeLog, startReplica } from "./controllers.ts";
import { type ExportGate, holdExport } from "./gate.ts";
import { ledgerFigures, simFaults } from "./ledger.ts";
import { checkOncall, type OncallCheck, oncallNodes } from "./oncall-check.ts";
import { ProgressSampler, type ProgressSnapshot } from "./progress.ts";
import { buildReport, type RehearsalReport } from "./report.ts";
import {
  applyRehearsalPool,
  type DataOptions,
  ensureBucket,
  type PoolOptions,
  planRehearsalExport,
  type RehearsalNames,
  rehearsalExportSpec,
  rehearsalPool,
  seedCallLog,
  stackSource,
} from "./setup.ts";

/**
 * The rehearsal: a whole export on the local stack and a sim spot market, with faults, ending in an independent
 * verification. `npm run demo` runs a big one (sim/cli/demo-commands.ts); test/stack/e2e-rehearsal.test.ts a small
 * one. Everything the operator would do is done the same way here: `pool apply`, `export plan`, `controller run`
 * (in-process replicas of the same Controller), `spotferry rotate` (the CLI, as a child process), POST /_sim/hazard
 * and /_sim/instances/ID/interrupt|kill, and `export verify` (the same verifyExport over the manifest and the source).
 * The sim is the caller's (the demo starts one, tests use test/helpers/sim.ts); its nodes boot from the user-data the
 * controller renders, download the published agent bundle through a presigned URL and run it.
 */
export interface RehearsalOptions {
  names: RehearsalNames;
  data: DataOptions;
  pool: PoolOptions;
  sim: { url: string };
  /** The local stack's environment (AWS endpoints and credentials, SPOTFERRY_MYSQL_*). Default: process.env. */
  env?: Record<string, string | undefined>;
  /** ControllerSettings overrides (durations in seconds). */
  controller?: Record<string, unknown>;
  /** Seeded random spot interruptions of the pool's instances (per sim hour, see sim/chaos.ts). */
  hazard?: { ratePerHour: number; seed: number } | null;
  chaos?: {
    /** Explicit spot notices to a busy node at these fractions of the rows exported. */
    interruptAt?: number[];
    /** Hard kills (no notice) of a busy node at these fractions. */
    killAt?: number[];
    /** `spotferry rotate POOL` at this fraction. */
    rotateAt?: number | null;
    /** Crash the leading controller at this fraction; a standby takes over once its lease expires. */
    restartControllerAt?: number | null;
    /** If the hazard has not interrupted anything by this fraction, interrupt one busy node explicitly. */
    ensureInterruptionBy?: number | null;
    /** Seed for picking victims. */
    seed?: number;
    /** Run the on-call commands (status, nodes, why, partition show, logs) through the CLI at this fraction. */
    oncallAt?: number;
  };
  timeoutMs: number;
  clock?: Clock;
  /** A pre-built agent bundle (tests that built one already); default: built by the controller. */
  bundle?: AgentBundle;
  log: (line: string) => void;
  onProgress?: (s: ProgressSnapshot) => void;
  progressIntervalMs?: number;
}

const exec = promisify(execFile);

/** `spotferry rotate POOL`, exactly as an operator types it. */
async function rotateWithCli(pool: string, stateTable: string, env: Record<string, string | undefined>): Promise<string> {
  const { stdout } = await exec(process.execPath, [join(repoRoot, "bin", "spotferry.mjs"), "rotate", pool, "--state-table", stateTable], {
    env: env as NodeJS.ProcessEnv,
    timeout: 60_000,
  });
  return stdout.trim();
}

async function simPost(url: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${url}/_sim${path}`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST /_sim${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

type Trigger = { at: number; kind: "interrupt" | "kill" | "rotate" | "restart" | "ensure"; done: boolean };

export async function runRehearsal(opts: RehearsalOptions): Promise<RehearsalReport> {
  const clock = opts.clock ?? systemClock;
  const env = opts.env ?? process.env;
  const { names, log } = opts;
  const simEnv = { ...env, AWS_ENDPOINT_URL_EC2: opts.sim.url, AWS_ENDPOINT_URL_MONITORING: opts.sim.url };
  const ddb = dynamoClient(env);
  const s3 = s3Client(env);
  const ec2 = new EC2Client({ region: region(env), endpoint: opts.sim.url, credentials: credentials(env) });
  const cloudwatch = new CloudWatchClient({ region: region(env), endpoint: opts.sim.url, credentials: credentials(env) });
  const splitter = new MysqlSplitFinder({ env });
  const replicas: ControllerReplica[] = [];
  let gate: ExportGate | null = null;
  const gateOwner = `${hostname()}:rehearsal:gate`;
  const t0 = clock.now();
  try {
    // --- the stage: state table, buckets, table, pool, plan ---------------------------------------------------
    await createStateTable(ddb, names.stateTable);
    await Promise.all([ensureBucket(s3, names.bucket), ensureBucket(s3, names.artifactBucket)]);
    const seed = await seedCallLog(env, names, opts.data, log);
    const jobs = new DynamoJobStore({ client: ddb, tableName: names.stateTable, clock });
    const fleet = new DynamoFleetStore({ client: ddb, tableName: names.stateTable, clock });
    const poolSpec = rehearsalPool(names, opts.pool);
    await applyRehearsalPool(fleet, poolSpec);
    log(
      `pool ${poolSpec.name} applied: ${opts.pool.instanceTypes.join(", ")} in ${opts.pool.subnets.join(", ")}, up to ${opts.pool.maxNodes} spot nodes`,
    );
    const plan = await planRehearsalExport({ jobs, clock, env }, rehearsalExportSpec(env, names, opts.data));
    const exportId = plan.record.exportId;
    log(
      `export ${exportId} planned: ${plan.record.estimatedRows.toLocaleString("en-US")} rows in ${plan.partitions} partitions (${(plan.ms / 1000).toFixed(1)} s)`,
    );

    // Held until the on-call questions are answered, so the export cannot end (and its nodes go) before (gate.ts).
    gate = await holdExport(jobs, {
      exportId,
      pool: names.pool,
      partition: plan.record.partitionCount - 1,
      owner: gateOwner,
      holdMs: opts.timeoutMs + 60_000,
    });
    log(`partition ${gate.partition} held by the rehearsal until the on-call check is done`);

    // --- the controller, which provisions the pool in the sim -------------------------------------------------
    const settings = controllerSettings.parse({
      stateTable: names.stateTable,
      artifactBucket: names.artifactBucket,
      leaderLease: 10,
      partitionLease: 20,
      clockSkewMargin: 2,
      heartbeatTimeout: 30,
      orphanGrace: 60,
      capacityErrorMemory: 60,
      bundleUrlLifetime: 900,
      splitMinRows: 1,
      nodeAgent: { partitionLease: 20, heartbeatInterval: 4, idleExitAfter: 900, imdsPollInterval: 1 },
      ...opts.controller,
    });
    const onDemandPrices = Object.fromEntries(INSTANCE_TYPES.map((t) => [t.type, t.onDemandPrice]));
    const cloud = new Ec2Provider({ ec2, clock, onDemandPrices });
    const templates = bootstrapTemplateSource({ s3, clock, settings, region: region(env), bundle: opts.bundle, log });
    const finalized: FinalizeLog = new Map();
    const replicaDeps = { clock, cloud, fleet, jobs, s3, cloudwatch, settings, templates, splitter, env, log };
    const exportStart = clock.now();
    replicas.push(startReplica(replicaDeps, `${hostname()}:rehearsal:1`, finalized));

    const hazard = opts.hazard ?? null;
    if (hazard && hazard.ratePerHour > 0) {
      await simPost(opts.sim.url, "/hazard", { pool: names.pool, ratePerHour: hazard.ratePerHour, seed: hazard.seed });
      log(`sim hazard on pool ${names.pool}: ${hazard.ratePerHour} interruptions per node per sim hour, seed ${hazard.seed}`);
    }

    // --- the run: watch progress, inject the planned faults at their fractions --------------------------------
    const chaos = opts.chaos ?? {};
    const triggers: Trigger[] = [
      ...(chaos.interruptAt ?? []).map((at) => ({ at, kind: "interrupt" as const, done: false })),
      ...(chaos.killAt ?? []).map((at) => ({ at, kind: "kill" as const, done: false })),
      ...(chaos.rotateAt != null ? [{ at: chaos.rotateAt, kind: "rotate" as const, done: false }] : []),
      ...(chaos.restartControllerAt != null ? [{ at: chaos.restartControllerAt, kind: "restart" as const, done: false }] : []),
      ...(chaos.ensureInterruptionBy != null ? [{ at: chaos.ensureInterruptionBy, kind: "ensure" as const, done: false }] : []),
    ].sort((a, b) => a.at - b.at);
    const random = seededRandom(chaos.seed ?? 7);
    const faulted = new Set<string>();
    let rotatedAt: number | null = null;
    let restartedAt: number | null = null;
    const skipped: string[] = [];

    /** A node holding a lease that has not been hit yet, picked by the seeded generator. */
    const victim = async (): Promise<string | null> => {
      const progress = await jobs.progress(exportId);
      const nodes = new Map((await fleet.listNodes(names.pool)).map((n) => [n.instanceId, n]));
      const busy = Object.keys(progress.owners)
        .filter((id) => !faulted.has(id) && nodes.get(id)?.lifecycle === "READY" && nodes.get(id)?.retiringAt === null)
        .sort();
      return busy.length ? busy[Math.floor(random() * busy.length)]! : null;
    };
    const fire = async (t: Trigger): Promise<boolean> => {
      if (t.kind === "rotate") {
        log(`rotating the pool: ${await rotateWithCli(names.pool, names.stateTable, simEnv)}`);
        rotatedAt = clock.now();
        return true;
      }
      if (t.kind === "restart") {
        const old = replicas.at(-1)!;
        await old.crash();
        replicas.push(startReplica(replicaDeps, `${hostname()}:rehearsal:${replicas.length + 1}`, finalized));
        restartedAt = clock.now();
        log(`controller ${old.owner} crashed (its leader lease runs out on its own); ${replicas.at(-1)!.owner} stands by to take over`);
        return true;
      }
      if (t.kind === "ensure") {
        const hit = (await simFaults(opts.sim.url, new Set((await fleet.listNodes(names.pool)).map((n) => n.instanceId)))).length;
        if (hit > 0) return true;
      }
      const id = await victim();
      if (!id) return false;
      faulted.add(id);
      if (t.kind === "kill") {
        await simPost(opts.sim.url, `/instances/${id}/kill`, {});
        log(`hard-killed ${id} (no notice: its leases are released by the controller or expire)`);
      } else {
        await simPost(opts.sim.url, `/instances/${id}/interrupt`, {});
        log(`spot interruption notice sent to ${id}`);
      }
      return true;
    };

    // Halfway through, once a node is READY and working, ask the on-call questions of the live fleet through the CLI,
    // in the background (~10 s) while the faults go on; the gate is opened when they are answered.
    const nodesUp = () => oncallNodes({ simUrl: opts.sim.url, fleet, jobs, pool: names.pool, exportId, faulted });
    let oncall: Promise<OncallCheck[]> | null = null;
    let answered = false;
    const askOncall = () =>
      checkOncall({
        env: simEnv,
        stateTable: names.stateTable,
        exportId,
        pool: names.pool,
        // Asked right before `logs` runs: nodes come and go meanwhile.
        pickNodes: async () => (await nodesUp()).map((n) => n.instanceId),
      }).finally(() => {
        answered = true;
      });
    /** The point to ask at: enough rows committed (or nothing left to hand out) and a node up that holds a lease. */
    const heldPoint = async (s: ProgressSnapshot, fraction: number): Promise<boolean> => {
      if (fraction < (chaos.oncallAt ?? 0.5) && s.partitions.PENDING > 0) return false;
      const up = await nodesUp();
      // Only the gate's partition left: no node can be busy, an idle one up is the known point.
      const onlyGate = s.partitions.PENDING === 0 && s.partitions.LEASED <= 1;
      return up.some((n) => n.busy) || (onlyGate && up.length > 0);
    };

    const sampler = new ProgressSampler({ jobs, fleet, clock }, exportId, names.pool, exportStart);
    let last: ProgressSnapshot | null = null;
    for (;;) {
      try {
        last = await sampler.sample();
        opts.onProgress?.(last);
      } catch (err) {
        log(`sampling progress failed (retrying): ${describeError(err)}`);
      }
      if (last?.state === "SUCCEEDED") break;
      if (last && (last.state === "FAILED" || last.state === "CANCELLED")) throw new Error(`export ${exportId} ended ${last.state}`);
      if (clock.now() - exportStart > opts.timeoutMs) {
        throw new Error(`the export did not finish within ${Math.round(opts.timeoutMs / 1000)} s (last: ${JSON.stringify(last)})`);
      }
      const fraction = last && last.rowsTotal > 0 ? last.rows / last.rowsTotal : 0;
      try {
        if (!oncall && last && (await heldPoint(last, fraction))) oncall = askOncall();
        if (answered && gate) {
          await gate.open();
          gate = null;
          log("on-call check done: the held partition is given back");
        }
      } catch (err) {
        log(`the on-call hold failed (retrying): ${describeError(err)}`);
      }
      for (const t of triggers) {
        if (t.done || fraction < t.at) continue;
        try {
          t.done = await fire(t);
        } catch (err) {
          log(`injecting ${t.kind} at ${Math.round(t.at * 100)}% failed (will retry): ${describeError(err)}`);
        }
        if (!t.done && fraction > t.at + 0.25) {
          t.done = true;
          skipped.push(`${t.kind}@${Math.round(t.at * 100)}%`);
        }
      }
      await clock.sleep(opts.progressIntervalMs ?? 1000);
    }
    const exportMs = clock.now() - exportStart;
    const oncallChecks = await (oncall ?? askOncall());
    log(`export ${exportId} SUCCEEDED after ${(exportMs / 1000).toFixed(1)} s`);

    // --- the end: stop the chaos and the controller, terminate the nodes, verify ------------------------------
    if (hazard && hazard.ratePerHour > 0) await simPost(opts.sim.url, "/hazard", { pool: names.pool, ratePerHour: 0, seed: hazard.seed });
    const leaders = replicas.map((r) => r.owner);
    await replicas.at(-1)!.stop();
    await terminatePool(cloud, fleet, names.pool, clock);
    const nodes = await fleet.listNodes(names.pool);
    const faults = await simFaults(opts.sim.url, new Set(nodes.map((n) => n.instanceId)));
    const ledger = await ledgerFigures(jobs, exportId, faults, { ignoreOwner: gateOwner });
    const cost = await exportCost({ jobs, fleet, clock }, exportId);
    const pool = await fleet.getPool(names.pool);

    const record = await jobs.getExport(exportId);
    if (!record?.manifestKey) throw new Error(`export ${exportId} SUCCEEDED without a manifest`);
    const manifest = await readManifest(s3, names.bucket, record.manifestKey);
    const conn = await mysql.createConnection({
      ...stackSource(env),
      password: env.SPOTFERRY_MYSQL_PASSWORD,
      charset: "UTF8MB4_GENERAL_CI",
    });
    let verify: Awaited<ReturnType<typeof verifyExport>>;
    const verifyStart = clock.now();
    try {
      await conn.query("SET time_zone = '+00:00'");
      verify = await verifyExport({ s3, conn }, manifest);
    } finally {
      await conn.end().catch(() => {});
    }
    log(
      `verify: ${verify.rows.toLocaleString("en-US")} rows, ${verify.missing} missing, ${verify.duplicated} duplicated (${((clock.now() - verifyStart) / 1000).toFixed(1)} s)`,
    );

    return buildReport({
      exportId,
      plannedPartitions: plan.partitions,
      rowsPlanned: plan.record.estimatedRows,
      seeded: seed,
      totalMs: clock.now() - t0,
      exportMs,
      faults,
      ledger,
      finalize: finalized.get(exportId) ?? null,
      cost,
      pool,
      nodes,
      rotatedAt,
      restartedAt,
      leaders,
      skipped,
      verify,
      oncall: oncallChecks,
    });
  } finally {
    await gate?.open().catch(() => {});
    for (const r of replicas) await r.stop().catch(() => {});
    await splitter.close();
    for (const c of [ddb, s3, ec2, cloudwatch]) c.destroy();
  }
}

/** Terminates every instance of the pool and records each node TERMINATED (so their cost stops accruing). */
async function terminatePool(cloud: Ec2Provider, fleet: DynamoFleetStore, pool: string, clock: Clock): Promise<void> {
  const live = (await cloud.describePoolInstances(pool)).filter((i) => i.state !== "terminated").map((i) => i.instanceId);
  if (live.length) await cloud.terminate(live);
  const at = new Date(clock.now()).toISOString();
  for (const n of await fleet.listNodes(pool)) {
    if (n.lifecycle === "TERMINATED") continue;
    await fleet.updateNode(pool, n.instanceId, n.version, {
      lifecycle: "TERMINATED",
      terminatedAt: n.terminatedAt ?? at,
      reason: n.reason ?? "rehearsal ended",
      currentPartition: null,
    });
  }
}
