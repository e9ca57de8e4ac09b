import assert from "node:assert/strict";
import { test } from "node:test";
import { nextRunDir, runDirNextFree, runDirValue } from "../../controller/schedule/run-dir.ts";

// Issue 17: a second run within the same minute was `run=...THH-MM-SS/` and listed before the first, `run=...THH-MM/`.
// Every name now has seconds and is later than the one before, so a plain listing is run order.

const at = (iso: string) => Date.parse(iso);

/** The names N runs get, each after the previous one, as a schedule gives them. */
function names(times: number[], first: string | null = null): string[] {
  const out: string[] = [];
  let previous = first;
  for (const t of times) {
    previous = nextRunDir(t, previous);
    out.push(previous);
  }
  return out;
}

const sortedAsListed = (values: string[]) => values.map((v) => `run=${v}/`).sort();

test("N runs' directory prefixes list in run order: several in one second, several in one minute, then later", () => {
  const times = [
    at("2026-11-21T10:05:00.100Z"),
    at("2026-11-21T10:05:00.200Z"), // same second
    at("2026-11-21T10:05:00.900Z"), // same second again
    at("2026-11-21T10:05:30Z"), // same minute
    at("2026-11-21T10:05:30.500Z"),
    at("2026-11-21T10:06:00Z"),
    at("2026-11-21T11:00:00Z"),
    at("2026-11-22T00:00:00Z"),
  ];
  const got = names(times);
  assert.deepEqual(
    sortedAsListed(got),
    got.map((v) => `run=${v}/`),
    "listing order is run order",
  );
  assert.equal(new Set(got).size, got.length, "every run has its own directory");
  for (const v of got) assert.match(v, /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}$/, "one fixed width");
  assert.deepEqual(got.slice(0, 4), ["2026-11-21T10-05-00", "2026-11-21T10-05-01", "2026-11-21T10-05-02", "2026-11-21T10-05-30"]);
});

test("a run after an old minute name (before issue 17) takes the next minute, so it still lists after it", () => {
  const got = names([at("2026-11-21T10:05:40Z"), at("2026-11-21T10:05:50Z")], "2026-11-21T10-05");
  assert.deepEqual(got, ["2026-11-21T10-06-00", "2026-11-21T10-06-01"]);
  const all = ["2026-11-21T10-05", ...got];
  assert.deepEqual(
    sortedAsListed(all),
    all.map((v) => `run=${v}/`),
  );
  // An old second-in-the-minute name (the form that sorted wrong) is read as its second.
  assert.equal(nextRunDir(at("2026-11-21T10:05:10Z"), "2026-11-21T10-05-17"), "2026-11-21T10-05-18");
});

test("old and new names are read; a clock behind the previous run's still gives a later name", () => {
  assert.equal(runDirNextFree("2026-11-21T10-05"), at("2026-11-21T10:06:00Z"));
  assert.equal(runDirNextFree("2026-11-21T10-05-59"), at("2026-11-21T10:06:00Z"));
  assert.equal(runDirNextFree("not-a-run"), null);
  assert.equal(nextRunDir(at("2026-11-21T09:00:00Z"), "2026-11-21T10-05-07"), "2026-11-21T10-05-08");
  assert.equal(runDirValue(at("2026-11-21T10:05:07.999Z")), "2026-11-21T10-05-07");
});
