import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import type { ControllerSettings } from "../config/settings.ts";
import { cloudWatchClient } from "../lib/aws/cloudwatch.ts";
import { ec2Client } from "../lib/aws/ec2.ts";
import { s3Client } from "../lib/aws/s3.ts";
import { systemClock } from "../lib/clock.ts";
import { dynamoClient } from "../lib/dynamo/client.ts";
import { checkLayout } from "../lib/dynamo/layout.ts";
import { ExitCode, UserError } from "../lib/errors.ts";
import { DynamoJobStore } from "../lib/jobs/dynamo-job-store.ts";
import { openExportSource } from "../lib/mysql/range-source.ts";
import { Ec2Provider } from "./cloud/ec2-provider.ts";
import { bootstrapTemplateSource } from "./cloud/node-templates.ts";
import { Controller, type StepResult } from "./controller.ts";
import { finalizeExport } from "./finalize/finalize.ts";
import { SourceAdmission } from "./planner/source-admission.ts";
import { MysqlSplitFinder } from "./planner/split-points.ts";
import { staticTemplateSource, type TemplateSource } from "./reconcilers/context.ts";
import { DynamoFleetStore } from "./store/dynamo-fleet-store.ts";

/**
 * The production controller built from the standard environment (AWS clients, settings, SPOTFERRY_USER_DATA): what
 * `spotferry controller run` (controller/cli/controller-commands.ts) and the Lambda handler (controller/lambda/)
 * both run, so the unit, the image and the function behave alike.
 */

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

/**
 * The launch template source: bootstrap/ renders the user-data (agent bundle published to the artifact bucket and
 * fetched through a presigned URL, re-rendered at half its lifetime; controller/cloud/node-templates.ts). `--user-data FILE`
 * (or SPOTFERRY_USER_DATA) replaces it with a fixed script, for plain hosts and experiments.
 */
async function templateSource(
  userDataFile: string | undefined,
  settings: ControllerSettings,
  s3: ReturnType<typeof s3Client>,
): Promise<TemplateSource> {
  const file = userDataFile ?? process.env.SPOTFERRY_USER_DATA;
  if (file) {
    const text = await readFile(file, "utf8").catch((cause: NodeJS.ErrnoException) => {
      throw new UserError(`--user-data ${file}: ${cause.code === "ENOENT" ? "file not found" : `cannot be read (${cause.code})`}`, {
        exitCode: ExitCode.usage,
      });
    });
    return staticTemplateSource(text);
  }
  if (!settings.artifactBucket) {
    throw new UserError(
      "no artifact bucket for the agent bundle: set artifactBucket in the ControllerSettings file (--config), or pass --user-data FILE",
      { exitCode: ExitCode.usage },
    );
  }
  return bootstrapTemplateSource({ s3, clock: systemClock, settings, region: process.env.AWS_REGION ?? "us-east-1", log });
}

/** What `controller run` and the Lambda handler (controller/lambda/handler.ts) run the controller with. */
export interface ControllerRunOptions {
  settings: ControllerSettings;
  /** One pass of every reconciler, then the lease is given back and the pass's result returned. */
  once?: boolean;
  /** Fixed user-data script instead of the rendered bootstrap (default $SPOTFERRY_USER_DATA). */
  userDataFile?: string;
  /** This replica's id in the leader lease (default host:pid:random). */
  owner?: string;
  /** Without `once`: runs until aborted (default: until SIGINT or SIGTERM). */
  signal?: AbortSignal;
}

/**
 * Builds the controller from the standard environment (AWS clients, SPOTFERRY_USER_DATA) and runs it: one pass with
 * `once` (its result is returned), else until the signal. Every client it opens is closed before it returns or throws.
 */
export async function runController(opts: ControllerRunOptions): Promise<StepResult | null> {
  // Settings, flags and the node template's inputs are checked before the controller writes anything.
  const { settings } = opts;
  const client = dynamoClient();
  const fleet = new DynamoFleetStore({ client, tableName: settings.stateTable, clock: systemClock });
  const s3 = s3Client();
  const ec2 = ec2Client();
  const cloudwatch = cloudWatchClient();
  const splitter = new MysqlSplitFinder();
  try {
    const templates = await templateSource(opts.userDataFile, settings, s3);
    // The controller brings an older table to this release's layout (and refuses a newer one) before it acts.
    await checkLayout({ client, tableName: settings.stateTable, clock: systemClock, migrate: true, log });
    const jobs = new DynamoJobStore({ client, tableName: settings.stateTable, clock: systemClock });
    const admission = new SourceAdmission({ clock: systemClock, log });
    const ctrl = new Controller({
      clock: systemClock,
      cloud: new Ec2Provider({ ec2 }),
      fleet,
      jobs,
      settings,
      templates,
      finalize: finalizer({ jobs, s3 }),
      cloudwatch,
      splitter,
      // No node is launched for an export whose source password does not resolve here (one line in the log).
      admitExport: (record) => admission.admits(record),
      owner: opts.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`,
      log,
    });
    if (opts.once) return await ctrl.runOnce();
    await ctrl.run(opts.signal ?? stopSignal());
    return null;
  } finally {
    await splitter.close();
    for (const c of [client, s3, ec2, cloudwatch]) c.destroy();
  }
}

/** Aborted by the first SIGINT or SIGTERM (systemd's stop, `docker stop`): the pass in progress ends, the lease is given back. */
function stopSignal(): AbortSignal {
  const stop = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => stop.abort());
  return stop.signal;
}

/** The controller's finalize step; the export's source is open only while finalizeExport reads its schema. */
function finalizer(deps: { jobs: DynamoJobStore; s3: ReturnType<typeof s3Client> }): (exportId: string) => Promise<void> {
  const { jobs, s3 } = deps;
  return async (exportId) => {
    const record = await jobs.getExport(exportId);
    if (!record) throw new Error(`export ${exportId} not found`);
    const source = await openExportSource(record, systemClock);
    try {
      const r = await finalizeExport({ store: jobs, s3, clock: systemClock, schema: () => source.columns(), log }, exportId);
      log(
        `finalized export ${exportId}: ${r.rows} rows in ${r.chunks} objects; ${r.orphansDeleted} orphan objects deleted, ` +
          `${r.uploadsAborted} uploads aborted`,
      );
    } finally {
      await source.close();
    }
  };
}
