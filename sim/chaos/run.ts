import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { EC2Client } from "@aws-sdk/client-ec2";
import mysql from "mysql2/promise";
import type { ExportSpec } from "../../config/export-spec.ts";
import { Ec2Provider } from "../../controller/cloud/ec2-provider.ts";
import { readManifest } from "../../controller/finalize/finalize.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { verifyExport } from "../../controller/verify/verify.ts";
import { credentials, region } from "../../lib/aws/env.ts";
import { s3Client } from "../../lib/aws/s3.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { type RehearsalIdentity, rehearsalMysqlUser, stageIdentity } from "../rehearsal/identity.ts";
import type { ProgressSnapshot } from "../rehearsal/progress.ts";
import {
  applyRehearsalPool,
  type DataOptions,
  type PoolOptions,
  type RehearsalNames,
  seedCallLog,
  setUpAsOperator,
  stackSource,
} from "../rehearsal/setup.ts";
import { checkExport, type IndependentCheck } from "./check.ts";
import type { ChaosFigures } from "./faults.ts";
import { type PhaseOptions, type PhaseResult, runPhase } from "./phase.ts";
import { planSchedule } from "./schedule.ts";

/**
 * The chaos run (`npm run chaos`): the rehearsal's account, table and pool (sim/rehearsal/ setup and identity), one
 * clean export for the baseline time, then the same export under the seeded fault schedule, both in fleet mode with
 * `controller run` processes; each ends with `export verify` and the independent check of check.ts.
 */
export interface ChaosOptions {
  names: RehearsalNames;
  /** The export is NDJSON (the independent check reads it with JSON.parse); `format` is ignored. */
  data: Omit<DataOptions, "format">;
  pool: PoolOptions;
  sim: { url: string; env: Record<string, string> };
  /** The local stack's environment. Default: process.env. */
  env?: Record<string, string | undefined>;
  /** ControllerSettings overrides (seconds). */
  controller?: Record<string, unknown>;
  seed: number;
  faults: number;
  /** Skip the clean run (no baseline time). */
  skipClean?: boolean;
  /** Per export. */
  timeoutMs: number;
  /** Controllers' logs go under it, one folder per export. */
  logDir: string;
  clock?: Clock;
  progressIntervalMs?: number;
  log: (line: string) => void;
  onProgress?: (phase: string, s: ProgressSnapshot) => void;
}

export interface ExportFigures {
  exportId: string;
  exportMs: number;
  partitions: number;
  verify: { rows: number; missing: number; duplicated: number; mismatched: number };
  check: IndependentCheck;
  finalize: PhaseResult["finalize"];
}

export interface ChaosReport {
  seed: number;
  rows: number;
  faults: ChaosFigures;
  clean: ExportFigures | null;
  chaos: ExportFigures;
  /** Chaos export time over the clean one's. */
  slowdown: number | null;
  /** No row lost, duplicated or foreign, every object intact, nothing left over, verify clean: for both exports. */
  ok: boolean;
}

type Env = Record<string, string | undefined>;

/** Short leases, so a frozen agent is overtaken and a killed leader replaced within seconds. */
export const chaosControllerSettings = {
  leaderLease: 5,
  partitionLease: 10,
  clockSkewMargin: 1,
  heartbeatTimeout: 15,
  nodeAgent: { partitionLease: 10, heartbeatInterval: 2, idleExitAfter: 900, imdsPollInterval: 1 },
};

interface Stage {
  o: ChaosOptions;
  clock: Clock;
  identity: RehearsalIdentity;
  spec: ExportSpec;
  jobs: DynamoJobStore;
  fleet: DynamoFleetStore;
  cloud: Ec2Provider;
  settingsFile: string;
  stackEnv: Env;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const clock = o.clock ?? systemClock;
  const stackEnv: Env = o.env ?? process.env;
  const adminEnv: Env = { ...stackEnv, ...o.sim.env };
  const data: DataOptions = { ...o.data, format: "ndjson" };
  const identity = await stageIdentity({ names: o.names, adminEnv, sim: o.sim, data, pool: o.pool, controller: o.controller });
  await setUpAsOperator(adminEnv, o.names);
  const seeded = await seedCallLog(adminEnv, o.names, data, o.log);
  // The operator's own view of the state table, straight at the stack: the sim's outages do not blind the run.
  const ddb = dynamoClient(stackEnv);
  const ec2 = new EC2Client({
    region: region(identity.controllerEnv),
    endpoint: o.sim.url,
    credentials: credentials(identity.controllerEnv),
  });
  const admin = await mysql.createConnection({ ...stackSource(stackEnv), password: stackEnv.SPOTFERRY_MYSQL_PASSWORD });
  try {
    const jobs = new DynamoJobStore({ client: ddb, tableName: o.names.stateTable, clock });
    const fleet = new DynamoFleetStore({ client: ddb, tableName: o.names.stateTable, clock });
    await applyRehearsalPool(fleet, identity.pool);
    const settingsFile = join(o.logDir, "controller-settings.json");
    writeFileSync(settingsFile, `${JSON.stringify({ kind: "ControllerSettings", ...identity.settings }, null, 2)}\n`, { mode: 0o600 });
    // Outages make calls fail in bursts; a partition's attempts must outlast them, or it would be quarantined.
    const spec: ExportSpec = { ...identity.exportSpec, retry: { maxAttempts: 100, backoff: 1 } };
    const s: Stage = { o, clock, identity, spec, jobs, fleet, cloud: new Ec2Provider({ ec2, clock }), settingsFile, stackEnv };
    o.log(`table ${o.names.database}.${o.names.table}: ${seeded.seeded ? "seeded" : "reused"}`);

    const clean = o.skipClean ? null : await measured(s, admin, await runPhase(phaseOptions(s, "clean")));
    const schedule = planSchedule({ seed: o.seed, faults: o.faults });
    const targets = { simUrl: o.sim.url, pool: o.names.pool, admin, mysqlUser: rehearsalMysqlUser(o.names) };
    const phase = await runPhase({ ...phaseOptions(s, "chaos"), chaos: { schedule, targets } });
    const chaos = await measured(s, admin, phase);
    const faults = phase.injector!.figures;
    const good = (f: ExportFigures | null) =>
      !f ||
      (f.verify.missing === 0 &&
        f.verify.duplicated === 0 &&
        f.verify.mismatched === 0 &&
        f.check.lost === 0 &&
        f.check.duplicated === 0 &&
        f.check.foreign === 0 &&
        f.check.corrupt.length === 0 &&
        f.check.orphans.length === 0 &&
        f.check.openUploads === 0);
    return {
      seed: o.seed,
      rows: chaos.check.sourceRows,
      faults,
      clean,
      chaos,
      slowdown: clean ? chaos.exportMs / clean.exportMs : null,
      ok: good(clean) && good(chaos),
    };
  } finally {
    await admin.end().catch(() => {});
    ddb.destroy();
    ec2.destroy();
  }
}

function phaseOptions(s: Stage, name: "clean" | "chaos"): PhaseOptions {
  const { o } = s;
  return {
    name,
    spec: { ...s.spec, name: `${o.names.exportName}-${name}`.slice(0, 63) },
    controllerEnv: s.identity.controllerEnv,
    stateTable: o.names.stateTable,
    pool: o.names.pool,
    settingsFile: s.settingsFile,
    logDir: o.logDir,
    jobs: s.jobs,
    fleet: s.fleet,
    cloud: s.cloud,
    clock: s.clock,
    timeoutMs: o.timeoutMs,
    progressIntervalMs: o.progressIntervalMs ?? 500,
    log: o.log,
    onProgress: o.onProgress ? (p) => o.onProgress!(name, p) : undefined,
  };
}

/** `export verify` (the manifest against the source, connection from the spec) and the independent check. */
async function measured(s: Stage, admin: mysql.Connection, r: PhaseResult): Promise<ExportFigures> {
  const { o, spec } = s;
  const s3 = s3Client(s.stackEnv);
  try {
    const manifest = await readManifest(s3, o.names.bucket, r.manifestKey);
    const conn = await openSource(spec.source, s.identity.controllerEnv);
    const v = await verifyExport({ s3, conn }, manifest).finally(() => conn.end().catch(() => {}));
    // A count before content verify (controller/verify), a list of partitions since.
    const mismatched = Array.isArray(v.mismatched) ? v.mismatched.length : Number(v.mismatched);
    const verify = { rows: v.rows, missing: v.missing, duplicated: v.duplicated, mismatched };
    const check = await checkExport({
      s3,
      admin,
      bucket: o.names.bucket,
      manifestKey: r.manifestKey,
      database: o.names.database,
      table: o.names.table,
    });
    o.log(
      `${r.exportId}: verify ${verify.rows} rows, ${verify.missing} missing, ${verify.duplicated} duplicated, ${mismatched} partitions differ; ` +
        `check ${check.objectRows}/${check.sourceRows} rows, ${check.lost} lost, ${check.duplicated} duplicated, ${check.orphans.length} orphans, ${check.openUploads} open uploads`,
    );
    return { exportId: r.exportId, exportMs: r.exportMs, partitions: r.partitions, verify, check, finalize: r.finalize };
  } finally {
    s3.destroy();
  }
}
