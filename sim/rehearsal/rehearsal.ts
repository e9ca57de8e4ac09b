import { hostname } from "node:os";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import type { S3Client } from "@aws-sdk/client-s3";
import type { AgentBundle } from "../../bootstrap/index.ts";
import type { ExportSpec } from "../../config/export-spec.ts";
import { Ec2Provider } from "../../controller/cloud/ec2-provider.ts";
import { bootstrapTemplateSource } from "../../controller/cloud/node-templates.ts";
import { describeEstimate, type ExportEstimate } from "../../controller/estimate/index.ts";
import { readManifest } from "../../controller/finalize/finalize.ts";
import { exportCost } from "../../controller/oncall/cost.ts";
import { MysqlSplitFinder } from "../../controller/planner/split-points.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { verifyExport } from "../../controller/verify/verify.ts";
import { credentials, region } from "../../lib/aws/env.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { describeError } from "../../lib/errors.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { INSTANCE_TYPES } from "../catalogue.ts";
import { type ControllerDeps, type ControllerReplica, type FinalizeLog, startReplica } from "./controllers.ts";
import { compareEstimate, rehearsalEstimate } from "./estimate-check.ts";
import { injectDue, planFaults, simPost } from "./faults.ts";
import { type ExportGate, holdExport } from "./gate.ts";
import { checkPolicies, inspectNodeEnvironments, type NodeEnvCheck } from "./iam-check.ts";
import { type RehearsalIdentity, stageIdentity } from "./identity.ts";
import { ledgerFigures, simFaults } from "./ledger.ts";
import { checkOncall, type OncallCheck, oncallNodes } from "./oncall-check.ts";
import { ProgressSampler, type ProgressSnapshot } from "./progress.ts";
import { buildReport, type RehearsalReport } from "./report.ts";
import {
  applyRehearsalPool,
  type DataOptions,
  type PoolOptions,
  planRehearsalExport,
  type RehearsalNames,
  seedCallLog,
  setUpAsOperator,
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
  /** The sim: its URL and the environment that points the SDK at it (RunningSim.env: EC2, CloudWatch, Secrets Manager,
   * SSM, and the recording front doors of S3 and DynamoDB). */
  sim: { url: string; env: Record<string, string> };
  /** The local stack's environment (AWS endpoints and the operator's keys, SPOTFERRY_MYSQL_*). Default: process.env. */
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

type Env = Record<string, string | undefined>;

/**
 * What the steps of a rehearsal share. One object goes through them all, each adding what it set up, so the finally
 * block of runRehearsal sees the gate and the replicas as they end up.
 */
interface Rehearsal {
  opts: RehearsalOptions;
  clock: Clock;
  /** The operator's: setup only (state table, buckets, seeding, the MySQL user and its secret). */
  adminEnv: Env;
  /** The controller role's session, with every AWS endpoint at the sim: the controller, the CLI, plan and verify. */
  env: Env;
  identity: RehearsalIdentity;
  names: RehearsalNames;
  log: (line: string) => void;
  ddb: DynamoDBClient;
  s3: S3Client;
  ec2: EC2Client;
  cloudwatch: CloudWatchClient;
  splitter: MysqlSplitFinder;
  replicas: ControllerReplica[];
  /** The hold on the last partition until the on-call check is done; null once given back. */
  gate: ExportGate | null;
  gateOwner: string;
  t0: number;
}

interface Staged extends Rehearsal {
  spec: ExportSpec;
  jobs: DynamoJobStore;
  fleet: DynamoFleetStore;
  seed: Awaited<ReturnType<typeof seedCallLog>>;
  plan: Awaited<ReturnType<typeof planRehearsalExport>>;
  exportId: string;
}

interface Live extends Staged {
  cloud: Ec2Provider;
  /** What starting a replica takes: the first, and a standby after a crash. */
  replicaDeps: ControllerDeps;
  finalized: FinalizeLog;
  exportStart: number;
  hazard: { ratePerHour: number; seed: number } | null;
  /** Nodes hit by an injected fault: never picked again, and not asked about by the on-call check. */
  faulted: Set<string>;
  estimate: ExportEstimate;
}

/** What the run leaves for the report. */
interface RunOutcome {
  exportMs: number;
  oncall: OncallCheck[];
  nodeEnv: NodeEnvCheck;
  rotatedAt: number | null;
  restartedAt: number | null;
  skipped: string[];
}

export async function runRehearsal(opts: RehearsalOptions): Promise<RehearsalReport> {
  const r = await openRehearsal(opts);
  try {
    const live = await startController(await setStage(r));
    const run = await driveExport(live);
    return await wrapUp(live, run);
  } finally {
    await r.gate?.open().catch(() => {});
    for (const c of r.replicas) await c.stop().catch(() => {});
    await r.splitter.close();
    for (const c of [r.ddb, r.s3, r.ec2, r.cloudwatch]) c.destroy();
  }
}

async function openRehearsal(opts: RehearsalOptions): Promise<Rehearsal> {
  const clock = opts.clock ?? systemClock;
  // Every AWS endpoint at the sim: S3 and DynamoDB through its recording front doors, the rest served by it.
  const adminEnv: Env = { ...(opts.env ?? process.env), ...opts.sim.env };
  const identity = await stageIdentity({ ...opts, adminEnv });
  const env = identity.controllerEnv;
  return {
    opts,
    clock,
    adminEnv,
    env,
    identity,
    names: opts.names,
    log: opts.log,
    ddb: dynamoClient(env),
    s3: s3Client(env),
    ec2: new EC2Client({ region: region(env), endpoint: opts.sim.url, credentials: credentials(env) }),
    cloudwatch: new CloudWatchClient({ region: region(env), endpoint: opts.sim.url, credentials: credentials(env) }),
    splitter: new MysqlSplitFinder({ env }),
    replicas: [],
    gate: null,
    gateOwner: `${hostname()}:rehearsal:gate`,
    t0: clock.now(),
  };
}

/** The stage: state table, buckets, table, pool, plan, and the hold on the export's last partition. */
async function setStage(r: Rehearsal): Promise<Staged> {
  const { opts, env, adminEnv, names, clock, log, ddb, identity } = r;
  await setUpAsOperator(adminEnv, names);
  const seed = await seedCallLog(adminEnv, names, opts.data, log);
  const jobs = new DynamoJobStore({ client: ddb, tableName: names.stateTable, clock });
  const fleet = new DynamoFleetStore({ client: ddb, tableName: names.stateTable, clock });
  const poolSpec = identity.pool;
  await applyRehearsalPool(fleet, poolSpec);
  log(
    `pool ${poolSpec.name} applied: ${opts.pool.instanceTypes.join(", ")} in ${opts.pool.subnets.join(", ")}, up to ${opts.pool.maxNodes} spot nodes`,
  );
  const spec = identity.exportSpec;
  const plan = await planRehearsalExport({ jobs, clock, env, ddb, stateTable: names.stateTable }, spec);
  const exportId = plan.record.exportId;
  log(
    `export ${exportId} planned: ${plan.record.estimatedRows.toLocaleString("en-US")} rows in ${plan.partitions} partitions (${(plan.ms / 1000).toFixed(1)} s)`,
  );

  // Held until the on-call questions are answered, so the export cannot end (and its nodes go) before (gate.ts).
  const gate = await holdExport(jobs, {
    exportId,
    pool: names.pool,
    partition: plan.record.partitionCount - 1,
    owner: r.gateOwner,
    holdMs: opts.timeoutMs + 60_000,
  });
  r.gate = gate;
  log(`partition ${gate.partition} held by the rehearsal until the on-call check is done`);
  return Object.assign(r, { spec, jobs, fleet, seed, plan, exportId });
}

/** The controller, which provisions the pool in the sim; then the sim's hazard, if any. */
async function startController(s: Staged): Promise<Live> {
  const { opts, env, names, clock, log, s3, ec2, cloudwatch, splitter, jobs, fleet, identity } = s;
  const settings = identity.settings;
  const onDemandPrices = Object.fromEntries(INSTANCE_TYPES.map((t) => [t.type, t.onDemandPrice]));
  const cloud = new Ec2Provider({ ec2, clock, onDemandPrices });
  const templates = bootstrapTemplateSource({ s3, clock, settings, region: region(env), bundle: opts.bundle, log });
  const finalized: FinalizeLog = new Map();
  const replicaDeps: ControllerDeps = { clock, cloud, fleet, jobs, s3, cloudwatch, settings, templates, splitter, env, log };
  // What `export plan` would print, made before any node is launched (the report sets it beside the actual).
  const plannedFaults = (opts.chaos?.interruptAt?.length ?? 0) + (opts.chaos?.killAt?.length ?? 0);
  const estimate = await rehearsalEstimate({ jobs, fleet, cloud, clock, env }, { spec: s.spec, record: s.plan.record, plannedFaults });
  log(describeEstimate(estimate).join("\n"));
  const exportStart = clock.now();
  s.replicas.push(startReplica(replicaDeps, `${hostname()}:rehearsal:1`, finalized));

  const hazard = opts.hazard ?? null;
  if (hazard && hazard.ratePerHour > 0) {
    await simPost(opts.sim.url, "/hazard", { pool: names.pool, ratePerHour: hazard.ratePerHour, seed: hazard.seed });
    log(`sim hazard on pool ${names.pool}: ${hazard.ratePerHour} interruptions per node per sim hour, seed ${hazard.seed}`);
  }
  return Object.assign(s, { cloud, replicaDeps, finalized, exportStart, hazard, faulted: new Set<string>(), estimate });
}

/** The run: watch progress until the export succeeds, asking the on-call questions and injecting faults on the way. */
async function driveExport(live: Live): Promise<RunOutcome> {
  const { opts, clock, log, jobs, fleet, names, exportId, exportStart } = live;
  const faults = planFaults(opts.chaos ?? {});
  const oncall: OncallWatch = { asked: null, nodeEnv: null, answered: false };
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
    await advanceOncall(live, oncall, last, fraction);
    await injectDue(live, faults, fraction);
    await clock.sleep(opts.progressIntervalMs ?? 1000);
  }
  const exportMs = clock.now() - exportStart;
  const checks = await (oncall.asked ?? askOncall(live, oncall));
  const nodeEnv = (await oncall.nodeEnv) ?? { inspected: 0, leaks: [] };
  log(`export ${exportId} SUCCEEDED after ${(exportMs / 1000).toFixed(1)} s`);
  return { exportMs, oncall: checks, nodeEnv, rotatedAt: faults.rotatedAt, restartedAt: faults.restartedAt, skipped: faults.skipped };
}

/** The on-call check: asked once (in the background), and whether it has been answered. */
interface OncallWatch {
  asked: Promise<OncallCheck[]> | null;
  /** The live nodes' process environments, read when the on-call questions are asked (nodes are up then). */
  nodeEnv: Promise<NodeEnvCheck> | null;
  answered: boolean;
}

const nodesUp = (live: Live) =>
  oncallNodes({
    simUrl: live.opts.sim.url,
    fleet: live.fleet,
    jobs: live.jobs,
    pool: live.names.pool,
    exportId: live.exportId,
    faulted: live.faulted,
  });

function askOncall(live: Live, watch: OncallWatch): Promise<OncallCheck[]> {
  const secrets = [live.adminEnv.SPOTFERRY_MYSQL_PASSWORD, live.adminEnv.AWS_SECRET_ACCESS_KEY, live.env.AWS_SECRET_ACCESS_KEY];
  watch.nodeEnv = inspectNodeEnvironments(
    live.opts.sim.url,
    secrets.filter((v): v is string => !!v),
  );
  return checkOncall({
    env: live.env,
    stateTable: live.names.stateTable,
    exportId: live.exportId,
    pool: live.names.pool,
    // Asked right before `logs` runs: nodes come and go meanwhile.
    pickNodes: async () => (await nodesUp(live)).map((n) => n.instanceId),
  }).finally(() => {
    watch.answered = true;
  });
}

/**
 * Halfway through, once a node is READY and working, ask the on-call questions of the live fleet through the CLI,
 * in the background (~10 s) while the faults go on; the gate is opened when they are answered.
 */
async function advanceOncall(live: Live, watch: OncallWatch, last: ProgressSnapshot | null, fraction: number): Promise<void> {
  try {
    if (!watch.asked && last && (await heldPoint(live, last, fraction))) watch.asked = askOncall(live, watch);
    if (watch.answered && live.gate) {
      await live.gate.open();
      live.gate = null;
      live.log("on-call check done: the held partition is given back");
    }
  } catch (err) {
    live.log(`the on-call hold failed (retrying): ${describeError(err)}`);
  }
}

/** The point to ask at: enough rows committed (or nothing left to hand out) and a node up that holds a lease. */
async function heldPoint(live: Live, s: ProgressSnapshot, fraction: number): Promise<boolean> {
  if (fraction < (live.opts.chaos?.oncallAt ?? 0.5) && s.partitions.PENDING > 0) return false;
  const up = await nodesUp(live);
  // Only the gate's partition left: no node can be busy, an idle one up is the known point.
  const onlyGate = s.partitions.PENDING === 0 && s.partitions.LEASED <= 1;
  return up.some((n) => n.busy) || (onlyGate && up.length > 0);
}

/** The end: stop the chaos and the controller, terminate the nodes, gather the figures, verify. */
async function wrapUp(live: Live, run: RunOutcome): Promise<RehearsalReport> {
  const { opts, names, clock, jobs, fleet, exportId, hazard, plan } = live;
  if (hazard && hazard.ratePerHour > 0) await simPost(opts.sim.url, "/hazard", { pool: names.pool, ratePerHour: 0, seed: hazard.seed });
  const leaders = live.replicas.map((r) => r.owner);
  await live.replicas.at(-1)!.stop();
  await terminatePool(live.cloud, fleet, names.pool, clock);
  const nodes = await fleet.listNodes(names.pool);
  const faults = await simFaults(opts.sim.url, new Set(nodes.map((n) => n.instanceId)));
  const ledger = await ledgerFigures(jobs, exportId, faults, { ignoreOwner: live.gateOwner });
  const cost = await exportCost({ jobs, fleet, clock }, exportId);
  const pool = await fleet.getPool(names.pool);
  const verify = await verifyAgainstSource(live);
  const iam = await checkPolicies(opts.sim.url, live.identity.roles, live.identity.policies);

  return buildReport({
    exportId,
    plannedPartitions: plan.partitions,
    rowsPlanned: plan.record.estimatedRows,
    seeded: live.seed,
    totalMs: clock.now() - live.t0,
    exportMs: run.exportMs,
    faults,
    ledger,
    finalize: live.finalized.get(exportId) ?? null,
    cost,
    pool,
    nodes,
    rotatedAt: run.rotatedAt,
    restartedAt: run.restartedAt,
    leaders,
    skipped: run.skipped,
    verify,
    oncall: run.oncall,
    iam,
    nodeEnv: run.nodeEnv,
    estimate: compareEstimate(live.estimate, { durationSeconds: run.exportMs / 1000, nodeHours: cost.nodeHours, costUsd: cost.costSoFar }),
  });
}

/** `export verify`: the manifest's objects against the source table. */
async function verifyAgainstSource(live: Live): Promise<Awaited<ReturnType<typeof verifyExport>>> {
  const { s3, env, clock, exportId } = live;
  const record = await live.jobs.getExport(exportId);
  if (!record?.manifestKey) throw new Error(`export ${exportId} SUCCEEDED without a manifest`);
  const manifest = await readManifest(s3, live.names.bucket, record.manifestKey);
  // As `export verify --config`: the connection from the spec (the secret, TLS), never from the manifest.
  const conn = await openSource(live.spec.source, env);
  let verify: Awaited<ReturnType<typeof verifyExport>>;
  const verifyStart = clock.now();
  try {
    verify = await verifyExport({ s3, conn }, manifest);
  } finally {
    await conn.end().catch(() => {});
  }
  live.log(
    `verify: ${verify.rows.toLocaleString("en-US")} rows, ${verify.missing} missing, ${verify.duplicated} duplicated (${((clock.now() - verifyStart) / 1000).toFixed(1)} s)`,
  );
  return verify;
}

/** Terminates every instance of the pool and records each node TERMINATED (so their cost stops accruing). */
export async function terminatePool(cloud: Ec2Provider, fleet: DynamoFleetStore, pool: string, clock: Clock): Promise<void> {
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
