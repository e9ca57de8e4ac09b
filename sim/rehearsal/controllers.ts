import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { S3Client } from "@aws-sdk/client-s3";
import type { ControllerSettings } from "../../config/settings.ts";
import type { CloudProvider } from "../../controller/cloud/cloud-provider.ts";
import { Controller } from "../../controller/controller.ts";
import { type FinalizeResult, finalizeExport } from "../../controller/finalize/finalize.ts";
import type { SplitFinder } from "../../controller/planner/split-points.ts";
import type { TemplateSource } from "../../controller/reconcilers/context.ts";
import type { FleetStore } from "../../controller/store/fleet-store.ts";
import type { Clock } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { openExportSource } from "../../lib/mysql/range-source.ts";

/**
 * In-process controller replicas for the rehearsal: the same Controller class `spotferry controller run` runs, with
 * the same reconcilers, bootstrap template source and split finder. A replica can be stopped gracefully (gives the
 * leader lease back) or "crashed": it stops acting at once and never gives the lease back, so its successor has to
 * wait for the lease to expire and then finds everything it needs in the state table and the cloud, as after a
 * SIGKILL. (A real crash could also cut a reconciler's writes in half; each of those is a single conditional write
 * or transaction, so it either happened or did not, which the restart test covers the same way.)
 */
export interface ControllerDeps {
  clock: Clock;
  cloud: CloudProvider;
  fleet: FleetStore;
  jobs: JobStore;
  s3: S3Client;
  cloudwatch?: CloudWatchClient;
  settings: ControllerSettings;
  templates: TemplateSource;
  splitter: SplitFinder;
  env: Record<string, string | undefined>;
  log: (line: string) => void;
}

export interface ControllerReplica {
  owner: string;
  controller: Controller;
  /** Graceful stop: finishes the current step and gives the lease back. */
  stop(): Promise<void>;
  /** Stops acting after the current step and keeps the lease until it expires (like a SIGKILL). */
  crash(): Promise<void>;
}

/** What the finalizing reconciler's finalize did, whichever replica ran it (for the report's rework figures). */
export type FinalizeLog = Map<string, FinalizeResult>;

export function startReplica(deps: ControllerDeps, owner: string, finalized: FinalizeLog): ControllerReplica {
  let crashed = false;
  // Only the lease release differs after a crash; every other call goes to the real store.
  const fleet: FleetStore = new Proxy(deps.fleet, {
    get(target, prop, receiver) {
      if (prop === "releaseLeadership" && crashed) return async () => {};
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const controller = new Controller({
    clock: deps.clock,
    cloud: deps.cloud,
    fleet,
    jobs: deps.jobs,
    settings: deps.settings,
    templates: deps.templates,
    splitter: deps.splitter,
    cloudwatch: deps.cloudwatch,
    owner,
    log: (line) => deps.log(`controller ${owner}: ${line}`),
    finalize: async (exportId) => {
      const record = await deps.jobs.getExport(exportId);
      if (!record) throw new Error(`finalizing export ${exportId}: not found`);
      const source = await openExportSource(record, deps.clock, deps.env);
      try {
        const result = await finalizeExport(
          {
            store: deps.jobs,
            s3: deps.s3,
            clock: deps.clock,
            schema: () => source.columns(),
            log: (l) => deps.log(`controller ${owner}: ${l}`),
          },
          exportId,
        );
        // A re-run on a finished export reports zeros; keep the first, real figures.
        if (!finalized.has(exportId)) finalized.set(exportId, result);
      } finally {
        await source.close();
      }
    },
  });
  const abort = new AbortController();
  const running = controller.run(abort.signal).catch((err) => deps.log(`controller ${owner} stopped on an error: ${describeError(err)}`));
  return {
    owner,
    controller,
    async stop() {
      abort.abort();
      await running;
    },
    async crash() {
      crashed = true;
      abort.abort();
      await running;
    },
  };
}
