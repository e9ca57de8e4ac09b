import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { DuckDBInstance } from "@duckdb/node-api";
import { objectText } from "../../controller/verify/canonical.ts";
import { type DigestSide, diffKeys, type Figure } from "../../controller/verify/key-diff.ts";
import type { ColumnSpec } from "../../lib/output/encode/index.ts";

// The descent through hash buckets, over in-memory sides that count what they were asked for; and the float
// canonical form as DuckDB computes it from each engine's layout of the same digits.

const md5 = (s: string) => createHash("md5").update(s).digest("hex");
function side(rows: { key: string; hash: string }[], seen: { maxListed: number }): DigestSide {
  const under = (path: string) => rows.filter((r) => md5(r.key).startsWith(path));
  return {
    async buckets(path) {
      const out = new Map<string, Figure>();
      for (const r of under(path)) {
        const b = md5(r.key).slice(path.length, path.length + 2);
        const f = out.get(b) ?? { rows: 0, sum: 0n };
        out.set(b, { rows: f.rows + 1, sum: f.sum + BigInt(r.hash) });
      }
      return out;
    },
    async rows(path) {
      const got = under(path);
      seen.maxListed = Math.max(seen.maxListed, got.length);
      return got;
    },
  };
}
const total = (rows: { hash: string }[]): Figure => ({ rows: rows.length, sum: rows.reduce((a, r) => a + BigInt(r.hash), 0n) });

test("diffKeys names a changed, a missing, a foreign and a duplicated key among 100,000, listing only small buckets", async () => {
  const source = Array.from({ length: 100_000 }, (_, i) => ({ key: String(i), hash: String(i * 7 + 1) }));
  const output = source.filter((r) => r.key !== "500").map((r) => (r.key === "42" ? { ...r, hash: "9" } : r));
  output.push({ key: "100000", hash: "5" }, { key: "777", hash: String(777 * 7 + 1) });
  const seen = { maxListed: 0 };
  const found = await diffKeys(
    side(source, seen),
    side(output, seen),
    { source: total(source), output: total(output) },
    { limit: 10, leafRows: 1000 },
  );
  assert.deepEqual(found.map((d) => `${d.key} ${d.problem}`).sort(), [
    "100000 not in the source",
    "42 different content",
    "500 missing in S3",
    "777 duplicated in S3",
  ]);
  assert.ok(seen.maxListed <= 1000, `listed at most one small bucket at a time (${seen.maxListed})`);
});

test("the float canonical form: one text per value whatever layout the digits came in", async () => {
  const con = await (await DuckDBInstance.create(":memory:")).connect();
  const c = { name: "x", kind: "double" } as ColumnSpec;
  const canon = async (text: string) =>
    String((await con.runAndReadAll(`SELECT ${objectText(c, "ndjson")} FROM (SELECT '${text}' AS x)`)).getRows()[0]![0]);
  const same: [string, string][] = [
    ["1e20", "1e+20"],
    ["100000000000000000000", "1e20"],
    ["0.00000015", "1.5e-07"],
    ["1.2345678901234568e17", "1.2345678901234568e+17"],
    ["-0", "0"],
    ["0.1", "1e-1"],
  ];
  for (const [a, b] of same) assert.equal(await canon(a), await canon(b), `${a} and ${b}`);
  assert.equal(await canon("-2.5"), "-2.5e0");
  assert.equal(await canon("0.000123"), "1.23e-4");
  assert.notEqual(await canon("0.1"), await canon("0.10000000000000002"));
  con.closeSync();
});
