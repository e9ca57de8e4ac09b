import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { startStatusServer } from "../../controller/http/server.ts";
import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { DynamoJobStore } from "../../lib/jobs/dynamo-job-store.ts";
import { ensurePackages } from "../../sim/stack/packages.ts";
import { NOW, seedOncallWorld } from "../helpers/oncall-seed.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

// The read-only status page on a seeded state table, loaded in headless Chromium (Debian's `chromium`, driven by
// playwright-core). The screenshot is kept under test-artifacts/ (git-ignored) for a human to look at.

const CHROMIUM = "/usr/bin/chromium";
const artifacts = join(import.meta.dirname, "..", "..", "test-artifacts");
let t: Awaited<ReturnType<typeof tempStateTable>>;
let page: Awaited<ReturnType<typeof startStatusServer>>;
let profile: string;

before(async () => {
  // Only this test needs a browser, so it is not part of the stack's requirements.
  ensurePackages([{ binary: CHROMIUM, packages: ["chromium"] }], (line) => process.stderr.write(`${line}\n`));
  t = await tempStateTable("oncall-page");
  await seedOncallWorld(t.client, t.tableName);
  const clock: Clock = { now: () => Date.parse(NOW), sleep: systemClock.sleep };
  const deps = {
    jobs: new DynamoJobStore({ client: t.client, tableName: t.tableName, clock }),
    fleet: new DynamoFleetStore({ client: t.client, tableName: t.tableName, clock }),
    clock,
  };
  page = await startStatusServer(deps, { host: "127.0.0.1", port: 0, refreshSec: 30 });
  profile = mkdtempSync(join(tmpdir(), "spotferry-chromium-"));
});
after(async () => {
  await page?.close();
  await t?.drop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test("the page is read-only and loopback-bound", async () => {
  assert.match(page.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  for (const method of ["POST", "PUT", "DELETE"]) {
    const res = await fetch(page.url, { method });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
  }
  const json = (await (await fetch(new URL("status.json", page.url))).json()) as { exports: { exportId: string }[]; attention: unknown[] };
  assert.deepEqual(
    json.exports.map((e) => e.exportId),
    ["audit-log", "orders-eu", "calls-2026", "billing", "users-old"],
  );
  assert.equal(json.attention.length, 6);
  assert.equal((await fetch(new URL("nope", page.url))).status, 404);
});

test("headless Chromium shows the seeded exports, what needs a human, charts and the timeline", async () => {
  // A fresh profile per run (playwright passes it as --user-data-dir), so no state leaks between runs.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const tab = browser.pages()[0] ?? (await browser.newPage());
    const external: string[] = [];
    tab.on("request", (r) => {
      if (!r.url().startsWith(page.url)) external.push(r.url());
    });
    await tab.goto(page.url, { waitUntil: "load" });
    assert.equal(await tab.title(), "spotferry status");
    const text = (await tab.locator("body").textContent()) ?? "";
    for (const id of ["calls-2026", "orders-eu", "users-old", "audit-log", "billing"]) assert.ok(text.includes(id), `${id} on the page`);
    const kinds = await tab.locator("[data-kind]").evaluateAll((els) => els.map((e) => e.getAttribute("data-kind")));
    assert.deepEqual(kinds, ["export-failed", "no-nodes", "quarantined", "lease-expired", "not-heartbeating", "stalled"]);
    // What needs a human comes before the exports table.
    assert.ok(text.indexOf("Needs a human") < text.indexOf("Exports"));
    assert.equal(await tab.locator("svg.chart").count(), 5, "a progress chart per export");
    assert.ok((await tab.locator("svg.timeline circle").count()) >= 3, "interruption, drain and rotation on the timeline");
    assert.match(text, /spot interruption/);
    assert.deepEqual(external, [], "no request leaves the page's own origin");
    assert.equal(await tab.locator('meta[http-equiv="refresh"]').getAttribute("content"), "30");
    mkdirSync(artifacts, { recursive: true });
    await tab.screenshot({ path: join(artifacts, "status-page.png"), fullPage: true });
  } finally {
    await browser.close();
  }
});
