import assert from "node:assert/strict";
import { test } from "node:test";
import { RateWindow } from "../../lib/progress/rate-window.ts";

test("a rate over the window, not the lifetime: a run that sped up shows its new speed", () => {
  const w = new RateWindow({ windowMs: 10_000, alpha: 1 });
  // 100 rows/s for 60 s, then 1,000 rows/s.
  for (let t = 0; t <= 60_000; t += 1000) w.add(t / 10, t);
  for (let t = 61_000; t <= 80_000; t += 1000) w.add(6000 + (t - 60_000), t);
  assert.equal(w.rate(), 1000);
  assert.equal(w.etaMs(5000), 5000);
});

test("a chunk landing between samples moves the smoothed rate a little, not threefold", () => {
  const w = new RateWindow();
  for (let t = 0; t <= 60_000; t += 1000) w.add(t * 5, t); // 5,000 rows/s
  const before = w.rate() as number;
  w.add(61_000 * 5 + 100_000, 61_000); // a chunk of 20 s of work commits at once
  const after = w.rate() as number;
  assert.ok(after / before < 1.2, `${before} -> ${after}`);
});

test("unknown before two samples; a count that restarts starts afresh", () => {
  const w = new RateWindow();
  assert.equal(w.rate(), null);
  assert.equal(w.etaMs(10), null);
  w.add(100, 0);
  assert.equal(w.rate(), null);
  w.add(200, 1000);
  assert.equal(w.rate(), 100);
  w.add(50, 2000);
  assert.equal(w.rate(), null);
  assert.equal(w.etaMs(0), 0);
});
