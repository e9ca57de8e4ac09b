/**
 * What content verify costs next to key-only verify: the call log (1 M rows by default) exported once by two
 * in-process agents, then `export verify` over its manifest in both modes, each timed on the same output, and the
 * narrowing of a tampered partition down to its keys (--rows). Source SQL and DuckDB over the objects, as the CLI.
 * Usage: node test/bench/verify.bench.ts [--rows N] [--format parquet|ndjson|csv]   (prints figures; asserts nothing)
 */
import { Agent } from "../../agent/agent.ts";
import { agentSettings } from "../../config/settings.ts";
import { finalizeExport, readManifest } from "../../controller/finalize/finalize.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import { verifyExport } from "../../controller/verify/verify.ts";
import { systemClock } from "../../lib/clock.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { openExportSource } from "../../lib/mysql/range-source.ts";
import { exportFixture } from "../helpers/export-fixture.ts";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] as string) : dflt;
};
const rows = Number(arg("rows", "1000000"));
const format = arg("format", "parquet") as "parquet" | "ndjson" | "csv";
const fx = await exportFixture({ rows, format, chunkRows: 100_000, targetRows: 250_000 });
const secs = (t0: number) => (performance.now() - t0) / 1000;

try {
  const t0 = performance.now();
  const conn = await openSource(fx.spec.source);
  const exportId = exportIdFor(fx.spec);
  try {
    await fx.store.createExport(toNewExport(exportId, fx.spec, await planExport(fx.spec, { conn, clock: systemClock })));
  } finally {
    await conn.end();
  }
  const settings = (n: string) => ({
    ...agentSettings.parse({ pool: fx.spec.pool, stateTable: fx.tableName, idleExitAfter: 1 }),
    nodeId: n,
  });
  await Promise.all(
    ["a1", "a2"].map((n) => new Agent({ store: fx.store, s3: fx.s3, clock: systemClock, settings: settings(n), log: () => {} }).run()),
  );
  const record = (await fx.store.getExport(exportId))!;
  const source = await openExportSource(record, systemClock);
  const fin = await finalizeExport({ store: fx.store, s3: fx.s3, clock: systemClock, schema: () => source.columns() }, exportId);
  await source.close();
  const manifest = await readManifest(fx.s3, fx.bucket, fin.manifestKey);
  const exportSeconds = secs(t0);

  const verifyConn = await openSource(fx.spec.source);
  const timed = async (label: string, opts: Parameters<typeof verifyExport>[2]) => {
    const start = performance.now();
    const report = await verifyExport({ s3: fx.s3, conn: verifyConn }, manifest, opts);
    const s = secs(start);
    return { label, s, report };
  };
  const keys = await timed("key-only (--keys-only)", { keysOnly: true });
  const content = await timed("content (default)", {});
  await fx.conn.query(`UPDATE \`${fx.database}\`.call_log SET notes = 'tampered' WHERE id = 4242`);
  const narrowed = await timed("content + --rows on 1 tampered row", { rows: 10 });
  await verifyConn.end();

  const line = (r: Awaited<ReturnType<typeof timed>>) =>
    `${r.label.padEnd(40)} ${r.s.toFixed(2).padStart(8)} s ${Math.round(rows / r.s)
      .toLocaleString("en-US")
      .padStart(12)} rows/s ` +
    `${(r.s / keys.s).toFixed(2).padStart(6)}x   mismatched ${r.report.mismatched.length}` +
    (r.report.mismatched[0]?.keys ? ` keys ${JSON.stringify(r.report.mismatched[0].keys)}` : "");
  process.stdout.write(
    `verify bench: ${rows.toLocaleString("en-US")} rows, ${format}, ${manifest.totals.partitions} partitions, ` +
      `${manifest.totals.chunks} objects (export took ${exportSeconds.toFixed(1)} s)\n` +
      `${"mode".padEnd(40)} ${"wall".padStart(10)} ${"rows/s".padStart(19)} vs keys\n` +
      `${[keys, content, narrowed].map(line).join("\n")}\n`,
  );
} finally {
  await fx.cleanup();
}
