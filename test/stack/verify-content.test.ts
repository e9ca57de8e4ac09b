import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { Agent } from "../../agent/agent.ts";
import { type ExportSpec, exportSpec } from "../../config/export-spec.ts";
import { agentSettings } from "../../config/settings.ts";
import { finalizeExport, readManifest } from "../../controller/finalize/finalize.ts";
import { exportIdFor, planExport, toNewExport } from "../../controller/planner/plan.ts";
import { verifyExport } from "../../controller/verify/verify.ts";
import { systemClock } from "../../lib/clock.ts";
import { openSource } from "../../lib/mysql/connect.ts";
import { openExportSource } from "../../lib/mysql/range-source.ts";
import type { Manifest } from "../../lib/output/manifest.ts";
import { type Case, cases, NROWS } from "../helpers/encode-types-cases.ts";
import { stackSource } from "../helpers/env.ts";
import { type ExportFixture, exportFixture } from "../helpers/export-fixture.ts";
import { cli } from "../helpers/snapshot.ts";

// `export verify` compares content, not only keys: every type the encoders write, in every format, read back through
// DuckDB and checked against the same canonical text computed by MariaDB; then a value changed on either side.

type Format = ExportSpec["destination"]["format"];
let fx: ExportFixture;

async function createTypesTable(table: string): Promise<void> {
  const cols = cases.map((c) => `\`${c.name}\` ${c.ddl}`).join(", ");
  await fx.conn.query(`CREATE TABLE \`${fx.database}\`.\`${table}\` (id INT UNSIGNED NOT NULL PRIMARY KEY, ${cols})`);
  await fx.conn.query("SET SESSION sql_mode = ''");
  for (let r = 0; r < NROWS; r++) {
    const values = cases.map((c) => ((c as Case).rows[r] as Case["rows"][0])[0]);
    await fx.conn.query(`INSERT INTO \`${fx.database}\`.\`${table}\` VALUES (${r + 1}, ${values.join(", ")})`);
  }
}

/** Floats whose engines print the same digits in different layouts (exponent thresholds, "e+20" vs "e20", -0). */
const FLOATS = [
  "0",
  "-0",
  "0.1",
  "1.1",
  "-2.5",
  "1e20",
  "1e21",
  "1e22",
  "1.5e-7",
  "1e-6",
  "1.2345678901234568e17",
  "123456789012345",
  "1e-300",
  "-1.7976931348623157e308",
  "3.4e38",
  "0.000123",
];
async function createFloatsTable(table: string): Promise<void> {
  await fx.conn.query(`CREATE TABLE \`${fx.database}\`.\`${table}\` (id INT UNSIGNED NOT NULL PRIMARY KEY, f FLOAT NULL, d DOUBLE NULL)`);
  const rows = FLOATS.map((v, i) => `(${i + 1}, ${Math.abs(Number(v)) < 3.4e38 && Math.abs(Number(v)) > 1e-38 ? v : "NULL"}, ${v})`);
  await fx.conn.query(`INSERT INTO \`${fx.database}\`.\`${table}\` VALUES ${rows.join(", ")}`);
}

function specFor(table: string, format: Format, extra: Record<string, unknown> = {}): ExportSpec {
  return exportSpec.parse(specInput(table, format, extra));
}

function specInput(table: string, format: Format, extra: Record<string, unknown> = {}) {
  return {
    kind: "Export",
    name: `v-${fx.name}-${table.replace(/_/g, "-")}-${format}`.slice(0, 60),
    pool: `pool-${fx.name}-${format}`,
    source: stackSource(fx.database, table),
    destination: { bucket: fx.bucket, prefix: `${table}/${format}/`, format, chunk: { maxRows: 5_000 } },
    partitioning: { targetRows: 20_000 },
    retry: { maxAttempts: 3, backoff: "1s" },
    ...extra,
  };
}

/** Plans, runs one agent to the end and finalizes: the manifest a user would verify. */
async function exportOf(spec: ExportSpec): Promise<Manifest> {
  const conn = await openSource(spec.source);
  let exportId: string;
  try {
    const plan = await planExport(spec, { conn, clock: systemClock });
    exportId = (await fx.store.createExport(toNewExport(exportIdFor(spec), spec, plan))).export.exportId;
  } finally {
    await conn.end();
  }
  const settings = {
    ...agentSettings.parse({ pool: spec.pool, stateTable: fx.tableName, idleExitAfter: 1, heartbeatInterval: 1 }),
    nodeId: "n1",
  };
  await new Agent({ store: fx.store, s3: fx.s3, clock: systemClock, settings, log: () => {} }).run();
  const record = await fx.store.getExport(exportId);
  assert.ok(record);
  const source = await openExportSource(record, systemClock);
  try {
    const fin = await finalizeExport({ store: fx.store, s3: fx.s3, clock: systemClock, schema: () => source.columns() }, exportId);
    return await readManifest(fx.s3, fx.bucket, fin.manifestKey);
  } finally {
    await source.close();
  }
}

const verify = (m: Manifest, opts = {}) => verifyExport({ s3: fx.s3, conn: fx.conn }, m, opts);

/** Rewrites one object with `edit` applied to its text, and the manifest's SHA-256 and size to match (a forger's copy). */
async function tamperObject(m: Manifest, edit: (text: string) => string): Promise<Manifest> {
  const chunk = m.partitions[0]!.chunks[0]!;
  const res = await fx.s3.send(new GetObjectCommand({ Bucket: m.bucket, Key: chunk.key }));
  const raw = Buffer.from(await res.Body!.transformToByteArray());
  const text = gunzipSync(raw).toString("utf8");
  const changed = edit(text);
  assert.notEqual(changed, text, "the edit changed the object");
  const body = gzipSync(Buffer.from(changed, "utf8"));
  await fx.s3.send(new PutObjectCommand({ Bucket: m.bucket, Key: chunk.key, Body: body }));
  const copy = structuredClone(m);
  const c = copy.partitions[0]!.chunks[0]!;
  c.sha256 = createHash("sha256").update(body).digest("hex");
  c.bytes = body.length;
  return copy;
}

describe("export verify compares content", { concurrency: false }, () => {
  before(async () => {
    fx = await exportFixture({ rows: 60_000, format: "ndjson", chunkRows: 5_000, targetRows: 20_000 });
    await createTypesTable("types");
    await createFloatsTable("floats");
  });
  after(() => fx.cleanup());

  for (const format of ["parquet", "ndjson", "csv"] as const) {
    test(`every type, ${format}: the objects' content equals the source's`, async () => {
      const m = await exportOf(specFor("types", format));
      const report = await verify(m);
      assert.deepEqual(report.mismatched, [], JSON.stringify(report.mismatched));
      assert.equal(report.rows, NROWS);
      assert.equal(report.mode, "content");
      const floats = await verify(await exportOf(specFor("floats", format)));
      assert.deepEqual(floats.mismatched, [], JSON.stringify(floats.mismatched));
      assert.equal(floats.rows, FLOATS.length);
    });
  }

  test("the export record and the manifest carry the source's position at plan time (null with the reason: log_bin is off here)", async () => {
    const [[{ on }]] = (await fx.conn.query("SELECT @@log_bin AS `on`")) as unknown as [[{ on: number }]];
    const m = await exportOf(specFor("types", "parquet", { name: `p-${fx.name}`.slice(0, 60) }));
    const pos = m.consistency?.sourcePosition;
    assert.ok(pos, "the manifest records the position");
    assert.equal(m.consistency?.snapshot, "per-chunk");
    assert.equal(pos.flavor, "mariadb");
    assert.match(pos.serverTime ?? "", /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
    if (Number(on) === 1) assert.ok(pos.binlog?.file, "log_bin is on: a file and position");
    else {
      assert.equal(pos.binlog, null);
      assert.match(pos.reason ?? "", /binary logging is off/);
    }
    const record = await fx.store.getExport(m.exportId);
    assert.deepEqual(record?.sourcePosition, pos);
  });

  test("a value changed in the source after the export is a mismatch naming the partition and the key", async () => {
    const m = await exportOf(specFor("call_log", "parquet"));
    assert.deepEqual((await verify(m)).mismatched, []);
    const table = `\`${fx.database}\`.call_log`;
    await fx.conn.query(`UPDATE ${table} SET notes = 'tampered' WHERE id IN (7, 30001)`);
    await fx.conn.query(`DELETE FROM ${table} WHERE id = 12`);
    try {
      const report = await verify(m, { rows: 10 });
      const bad = report.mismatched.map((c) => c.partition).sort();
      assert.ok(bad.length >= 1, "a mismatching partition");
      const keys = report.mismatched.flatMap((c) => c.keys ?? []).sort((a, b) => a.key.localeCompare(b.key));
      assert.deepEqual(keys, [
        { key: "12", problem: "not in the source", copies: 1 },
        { key: "30001", problem: "different content" },
        { key: "7", problem: "different content" },
      ]);
      // The CLI: exit 4 naming the partition and, with --rows, the keys; the connection from the spec file.
      const specFile = join(fx.dir, "call-log.json");
      writeFileSync(specFile, JSON.stringify(specInput("call_log", "parquet")));
      const env = { SPOTFERRY_STATE_TABLE: fx.tableName };
      const out = await cli(["export", "verify", m.exportId, "--config", specFile, "--rows", "5"], env);
      assert.equal(out.code, 4, out.stdout + out.stderr);
      assert.match(out.stdout, /^partition \d+: same row count but different content|^partition \d+: \d+ rows in the source/m);
      assert.match(out.stdout, /key 30001: different content/);
      assert.match(out.stdout, /verify .* \(content\): /);
      // The key-only mode proves exactly-once and no more: the notes do not count, the deleted row does.
      const keysOnly = await verify(m, { keysOnly: true });
      assert.equal(keysOnly.mode, "keys");
      assert.equal(keysOnly.mismatched.length, 1);
      assert.match(keysOnly.mismatched[0]!.problems.join(), /rows in the source/);
    } finally {
      await fx.conn.query(`DELETE FROM ${table} WHERE id IN (7, 12, 30001)`).catch(() => {});
    }
  });

  test("enrichment columns are compared too: the lookup table changed after the export is a mismatch", async () => {
    const customers = `\`${fx.database}\`.customers`;
    await fx.conn.query(`CREATE TABLE ${customers} (id INT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(40) NULL)`);
    await fx.conn.query(
      `INSERT INTO ${customers} SELECT seq, IF(seq MOD 4 = 0, NULL, CONCAT('customer ', seq)) FROM \`${fx.database}\`.seq_1_to_300`,
    );
    const input = specInput("call_log", "ndjson", {
      name: `en-${fx.name}`.slice(0, 60),
      enrich: [{ table: "customers", key: { local: "customer_id", remote: "id" }, columns: ["name"], as: "customer_" }],
    });
    const m = await exportOf(exportSpec.parse({ ...input, source: { ...input.source, maxConnections: 2 } }));
    assert.ok(
      m.schema.some((c) => c.name === "customer_name"),
      "the added column is exported",
    );
    assert.deepEqual((await verify(m)).mismatched, []);
    const [[{ id }]] = (await fx.conn.query(
      `SELECT MIN(customer_id) AS id FROM \`${fx.database}\`.call_log WHERE customer_id BETWEEN 1 AND 300 AND customer_id MOD 4 <> 0`,
    )) as unknown as [[{ id: number }]];
    await fx.conn.query(`UPDATE ${customers} SET name = 'renamed' WHERE id = ?`, [id]);
    const report = await verify(m);
    assert.ok(report.mismatched.length >= 1);
    assert.match(report.mismatched[0]!.problems.join(), /different content/);
  });

  for (const format of ["ndjson", "csv"] as const) {
    test(`a value changed inside a ${format} object (SHA-256 forged to match) is a mismatch`, async () => {
      const m = await exportOf(specFor("types", format, { name: `w-${fx.name}-${format}`.slice(0, 60) }));
      const forged = await tamperObject(m, (t) => t.replace("emoji 😀 and ü", "emoji 😀 and u"));
      const report = await verify(forged, { rows: 5 });
      assert.equal(report.mismatched.length, 1);
      assert.equal(report.mismatched[0]!.partition, 0);
      assert.match(report.mismatched[0]!.problems.join(), /different content/);
      assert.deepEqual(report.mismatched[0]!.keys, [{ key: "1", problem: "different content" }]);
    });
  }
});
