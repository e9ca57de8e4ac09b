/**
 * `destination.parquet` in the export spec (config/export-spec.ts): strict, defaults off, Parquet only, and its fields
 * are exactly encoder options, so the agent can pass them through (`{ compression, ...destination.parquet }`).
 *   node scripts/run-tests.mjs --no-lint test/fast/parquet-spec.test.ts
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { exportSpec } from "../../config/export-spec.ts";
import type { EncoderOptions } from "../../lib/output/encode/index.ts";

const spec = (destination: Record<string, unknown>) => ({
  kind: "Export",
  name: "calls",
  source: { user: "u", database: "db", table: "t" },
  destination: { bucket: "my-bucket", ...destination },
});

test("destination.parquet.tinyint1AsBoolean: absent by default, false when the block is empty, true when asked", () => {
  assert.equal(exportSpec.parse(spec({})).destination.parquet, undefined);
  assert.deepEqual(exportSpec.parse(spec({ parquet: {} })).destination.parquet, { tinyint1AsBoolean: false, deltaEncoding: true });
  const d = exportSpec.parse(spec({ parquet: { tinyint1AsBoolean: true } })).destination;
  const opts: EncoderOptions = { compression: d.compression, ...d.parquet };
  assert.equal(opts.tinyint1AsBoolean, true);
  const off = exportSpec.parse(spec({ parquet: { deltaEncoding: false } })).destination;
  assert.equal({ ...off.parquet }.deltaEncoding, false, "deltaEncoding: false reaches the encoder's options");
});

test("destination.parquet is strict, typed, and for format parquet only", () => {
  const problems = (d: Record<string, unknown>) => {
    const r = exportSpec.safeParse(spec(d));
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };
  assert.match(problems({ parquet: { tinyint1AsBool: true } }).join("\n"), /destination\.parquet.*tinyint1AsBool/);
  assert.match(problems({ parquet: { tinyint1AsBoolean: "yes" } }).join("\n"), /destination\.parquet\.tinyint1AsBoolean/);
  assert.match(
    problems({ format: "csv", parquet: { tinyint1AsBoolean: true } }).join("\n"),
    /destination\.parquet: applies to format parquet only/,
  );
});
