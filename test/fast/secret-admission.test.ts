import assert from "node:assert/strict";
import { test } from "node:test";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { ExportRecord } from "../../config/records.ts";
import { SourceAdmission } from "../../controller/planner/source-admission.ts";
import { poolWork, type ReconcileContext } from "../../controller/reconcilers/context.ts";
import { FakeClock } from "../../lib/clock.ts";
import { MemoryJobStore } from "../../lib/jobs/memory-job-store.ts";
import { plan } from "../contract/job-store.contract.ts";
import { testSim } from "../helpers/sim.ts";

/**
 * The controller's admission of an export before it launches nodes for it: a source secret that does not resolve
 * keeps the export's partitions out of the pool's work (so provisioning launches nothing) with one log line, and
 * is asked again after the retry interval, so creating the secret is enough to start the fleet.
 */
test("an export whose secret is missing is not counted as work until the secret exists", async (t) => {
  const { sim, env, root: credentials } = await testSim(t);
  const clock = new FakeClock();
  const jobs = new MemoryJobStore({ clock });
  const logs: string[] = [];
  const admission = new SourceAdmission({ clock, env, log: (l) => logs.push(l), retryAfterMs: 30_000 });

  const secretArn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:etl/db";
  const p = plan(2, "pool-s");
  p.spec = { ...p.spec, source: { ...p.spec.source, password: { secretArn } } };
  await jobs.createExport(p);
  const ctx = { jobs, admitExport: (e: ExportRecord) => admission.admits(e) } as unknown as ReconcileContext;

  assert.equal((await poolWork(ctx, "pool-s")).pending.length, 0);
  assert.deepEqual(logs, [`export ${p.exportId}: no nodes launched for it: source.password: secret ${secretArn} does not exist`]);
  await poolWork(ctx, "pool-s");
  assert.equal(logs.length, 1, "the same refusal is logged once");

  const sm = new SecretsManagerClient({ region: "us-east-1", endpoint: sim.url, credentials });
  t.after(() => sm.destroy());
  await sm.send(new CreateSecretCommand({ Name: "etl/db", SecretString: JSON.stringify({ password: "pw" }) }));
  assert.equal((await poolWork(ctx, "pool-s")).pending.length, 0, "refusals are remembered for the retry interval");
  await clock.advance(30_000);
  const work = await poolWork(ctx, "pool-s");
  assert.equal(work.pending.length, 2);
  assert.deepEqual(work.activeExports, [p.exportId]);
  assert.match(logs.at(-1) ?? "", /its source password resolves now/);
});
