import assert from "node:assert/strict";
import { test } from "node:test";
import { exportSpec } from "../../config/export-spec.ts";
import { buildDdl } from "../../controller/query/ddl.ts";
import type { ColumnSpec } from "../../lib/output/encode/index.ts";
import { MANIFEST_FORMAT, type Manifest } from "../../lib/output/manifest.ts";

// Golden statements for a fixed manifest: every kind of column the encoders know, two partitions with three
// committed objects. The data prefix is never named, only these objects (an abandoned attempt's object there is
// not read), and each type is the one lib/output/encode/README.md "Type mapping" gives the Parquet column.

const col = (name: string, kind: ColumnSpec["kind"], extra: Partial<ColumnSpec> = {}): ColumnSpec => ({
  name,
  kind,
  nullable: true,
  precision: 0,
  scale: 0,
  fsp: 0,
  bits: 0,
  sourceType: kind.toUpperCase(),
  ...extra,
});

const SCHEMA: ColumnSpec[] = [
  col("id", "uint64", { nullable: false }),
  col("flag", "int8", { displayWidth: 1 }),
  col("tiny", "int8", { displayWidth: 4 }),
  col("small_u", "uint16"),
  col("qty", "int32"),
  col("qty_u", "uint32"),
  col("big", "int64"),
  col("price", "decimal", { precision: 12, scale: 4 }),
  col("huge", "decimal", { precision: 65, scale: 10 }),
  col("ratio", "double"),
  col("f", "float"),
  col("day", "date"),
  col("at_local", "datetime", { fsp: 6 }),
  col("at_utc", "timestamp", { fsp: 3 }),
  col("dur", "time"),
  col("yr", "year"),
  col("doc", "json"),
  col("state", "enum"),
  col("tags", "set"),
  col("mask", "bit", { bits: 10 }),
  col("mask64", "bit", { bits: 64 }),
  col("raw", "binary"),
  col("note", "text"),
];

function fixedManifest(format: "parquet" | "ndjson" | "csv" = "parquet"): Manifest {
  const ext = format === "parquet" ? ".parquet" : format === "ndjson" ? ".ndjson.gz" : ".csv.gz";
  const spec = exportSpec.parse({
    kind: "Export",
    name: "call-log",
    source: { user: "u", database: "d", table: "t" },
    destination: { bucket: "lake", prefix: "exports/", format, ...(format === "parquet" ? { parquet: { tinyint1AsBoolean: true } } : {}) },
  });
  const chunk = (partition: number, seq: number, epoch: number, rows: number, bytes: number) => ({
    key: `exports/call-log-0a1b2c3d/data/part-${String(partition).padStart(6, "0")}/chunk-${String(seq).padStart(6, "0")}-e${epoch}${ext}`,
    seq,
    epoch,
    rows,
    bytes,
    sha256: "0".repeat(64),
    firstKey: ["1"],
    lastKey: ["2"],
  });
  return {
    format: MANIFEST_FORMAT,
    exportId: "call-log-0a1b2c3d",
    createdAt: "2026-01-02T03:04:05.000Z",
    spec,
    bucket: "lake",
    prefix: "exports/call-log-0a1b2c3d/",
    keyColumns: [{ name: "id", type: "uint", sqlType: "bigint(20) unsigned" }],
    lowKey: ["1"],
    highWatermark: ["900"],
    schema: SCHEMA,
    totals: { partitions: 2, chunks: 3, rows: 1500, bytes: 6000 },
    partitions: [
      { partition: 0, lo: null, hi: ["500"], rows: 1000, bytes: 4000, chunks: [chunk(0, 1, 1, 500, 2000), chunk(0, 2, 1, 500, 2000)] },
      { partition: 1, lo: ["500"], hi: null, rows: 500, bytes: 2000, chunks: [chunk(1, 1, 3, 500, 2000)] },
    ],
  };
}

const ATHENA = `CREATE EXTERNAL TABLE call_log (
  \`id\` decimal(20,0) COMMENT 'BIGINT UNSIGNED (Parquet INT64, unsigned)',
  \`flag\` boolean,
  \`tiny\` tinyint,
  \`small_u\` int,
  \`qty\` int,
  \`qty_u\` bigint,
  \`big\` bigint,
  \`price\` decimal(12,4),
  \`ratio\` double,
  \`f\` float,
  \`day\` date,
  \`at_local\` timestamp COMMENT 'DATETIME, zone-less',
  \`at_utc\` timestamp COMMENT 'TIMESTAMP, UTC',
  \`dur\` string COMMENT 'TIME as its MySQL text, [-]HHH:MM:SS[.f]',
  \`yr\` smallint,
  \`doc\` string COMMENT 'JSON text',
  \`state\` string,
  \`tags\` string,
  \`mask\` bigint,
  \`mask64\` decimal(20,0),
  \`raw\` binary,
  \`note\` string
)
COMMENT 'spotferry export call-log-0a1b2c3d: 1500 rows in 3 objects (format parquet); reads only the objects listed in s3://lake/exports/call-log-0a1b2c3d/_athena/symlink.txt; huge left out: DECIMAL(65,10): athena reads decimals of at most 38 digits'
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://lake/exports/call-log-0a1b2c3d/_athena/'
`;

const ATHENA_LIST = `s3://lake/exports/call-log-0a1b2c3d/data/part-000000/chunk-000001-e1.parquet
s3://lake/exports/call-log-0a1b2c3d/data/part-000000/chunk-000002-e1.parquet
s3://lake/exports/call-log-0a1b2c3d/data/part-000001/chunk-000001-e3.parquet
`;

const REDSHIFT = `-- spotferry export call-log-0a1b2c3d: 1500 rows in 3 objects (format parquet)
-- Reads only the objects listed in s3://lake/exports/call-log-0a1b2c3d/_redshift.manifest (written by spotferry ddl);
-- the external schema (spectrum) must exist: CREATE EXTERNAL SCHEMA ... FROM DATA CATALOG.
CREATE EXTERNAL TABLE spectrum.call_log (
  "id" DECIMAL(20,0),  -- BIGINT UNSIGNED (Parquet INT64, unsigned)
  "flag" BOOLEAN,
  "tiny" SMALLINT,  -- TINYINT (Redshift has no 1-byte integer)
  "small_u" INTEGER,
  "qty" INTEGER,
  "qty_u" BIGINT,
  "big" BIGINT,
  "price" DECIMAL(12,4),
  "ratio" DOUBLE PRECISION,
  "f" REAL,
  "day" DATE,
  "at_local" TIMESTAMP,  -- DATETIME, zone-less
  "at_utc" TIMESTAMP,  -- TIMESTAMP, UTC
  "dur" VARCHAR(65535),  -- TIME as its MySQL text, [-]HHH:MM:SS[.f]
  "yr" SMALLINT,
  "doc" VARCHAR(65535),  -- JSON text
  "state" VARCHAR(65535),
  "tags" VARCHAR(65535),
  "mask" BIGINT,
  "mask64" DECIMAL(20,0),
  "raw" VARBYTE(1024000),
  "note" VARCHAR(65535)
  -- "huge" left out: DECIMAL(65,10): redshift reads decimals of at most 38 digits
)
STORED AS PARQUET
LOCATION 's3://lake/exports/call-log-0a1b2c3d/_redshift.manifest';
`;

const REDSHIFT_LIST = `{"entries": [
  {"url":"s3://lake/exports/call-log-0a1b2c3d/data/part-000000/chunk-000001-e1.parquet","mandatory":true,"meta":{"content_length":2000}},
  {"url":"s3://lake/exports/call-log-0a1b2c3d/data/part-000000/chunk-000002-e1.parquet","mandatory":true,"meta":{"content_length":2000}},
  {"url":"s3://lake/exports/call-log-0a1b2c3d/data/part-000001/chunk-000001-e3.parquet","mandatory":true,"meta":{"content_length":2000}}
]}
`;

const SPARK = `-- spotferry export call-log-0a1b2c3d: 1500 rows in 3 objects (format parquet)
-- Reads only the manifest's objects: the path is a glob listing each of them.
CREATE TEMPORARY VIEW call_log (
  \`id\` DECIMAL(20,0),  -- BIGINT UNSIGNED (Parquet INT64, unsigned)
  \`flag\` BOOLEAN,
  \`tiny\` TINYINT,
  \`small_u\` INT,
  \`qty\` INT,
  \`qty_u\` BIGINT,
  \`big\` BIGINT,
  \`price\` DECIMAL(12,4),
  \`ratio\` DOUBLE,
  \`f\` FLOAT,
  \`day\` DATE,
  \`at_local\` TIMESTAMP_NTZ,
  \`at_utc\` TIMESTAMP,
  \`dur\` STRING,  -- TIME as its MySQL text, [-]HHH:MM:SS[.f]
  \`yr\` SMALLINT,
  \`doc\` STRING,  -- JSON text
  \`state\` STRING,
  \`tags\` STRING,
  \`mask\` BIGINT,
  \`mask64\` DECIMAL(20,0),
  \`raw\` BINARY,
  \`note\` STRING
  -- \`huge\` left out: DECIMAL(65,10): spark reads decimals of at most 38 digits
)
USING parquet
OPTIONS (path 's3a://lake/exports/call-log-0a1b2c3d/data/{part-000000/chunk-000001-e1.parquet,part-000000/chunk-000002-e1.parquet,part-000001/chunk-000001-e3.parquet}');
`;

test("athena: a SymlinkTextInputFormat table over a symlink file listing exactly the manifest's objects", () => {
  const ddl = buildDdl({ manifest: fixedManifest(), engine: "athena" });
  assert.equal(ddl.statement, ATHENA);
  assert.deepEqual(ddl.objects, [{ key: "exports/call-log-0a1b2c3d/_athena/symlink.txt", body: ATHENA_LIST, contentType: "text/plain" }]);
});

test("redshift: an external table whose LOCATION is a Spectrum manifest of the objects with their sizes", () => {
  const ddl = buildDdl({ manifest: fixedManifest(), engine: "redshift" });
  assert.equal(ddl.statement, REDSHIFT);
  assert.deepEqual(ddl.objects, [
    { key: "exports/call-log-0a1b2c3d/_redshift.manifest", body: REDSHIFT_LIST, contentType: "application/json" },
  ]);
  assert.equal(JSON.parse(REDSHIFT_LIST).entries.length, 3);
});

test("spark: a temporary view whose path globs exactly the manifest's objects", () => {
  const ddl = buildDdl({ manifest: fixedManifest(), engine: "spark" });
  assert.equal(ddl.statement, SPARK);
  assert.deepEqual(ddl.objects, []);
});

test("--table names the table; text formats are refused for athena, redshift and spark, not for duckdb", () => {
  assert.match(
    buildDdl({ manifest: fixedManifest(), engine: "spark", table: "lake.orders" }).statement,
    /CREATE TEMPORARY VIEW lake\.orders \(/,
  );
  assert.match(buildDdl({ manifest: fixedManifest(), engine: "redshift", table: "ext.orders" }).statement, /external schema \(ext\)/);
  for (const engine of ["athena", "redshift", "spark"] as const) {
    assert.throws(
      () => buildDdl({ manifest: fixedManifest("ndjson"), engine }),
      /reads Parquet exports; export call-log-0a1b2c3d is ndjson/,
    );
  }
  const csv = buildDdl({ manifest: fixedManifest("csv"), engine: "duckdb", location: (k) => `/tmp/${k}` }).statement;
  assert.match(csv, /allow_quoted_nulls = false/);
  assert.match(csv, /from_base64\("raw"\) AS "raw"/);
  assert.match(csv, /CAST\("huge" AS VARCHAR\) AS "huge"/, "more than 38 digits stay exact text");
  assert.doesNotMatch(csv, /s3:\/\//);
});

test("an export without objects still gives a statement with the columns' types", () => {
  const m = fixedManifest();
  m.partitions = [];
  assert.match(buildDdl({ manifest: m, engine: "duckdb" }).statement, /CREATE TABLE "call_log" \(\n {2}"id" UBIGINT,/);
  assert.match(buildDdl({ manifest: m, engine: "spark" }).statement, /SELECT CAST\(NULL AS DECIMAL\(20,0\)\) AS `id`, .* WHERE false;/);
  assert.equal(buildDdl({ manifest: m, engine: "athena" }).objects[0]?.body, "");
});
