import type { Activity } from "../oncall/activity.ts";
import { formatUsd as usd } from "../oncall/cost.ts";
import { duration, num, pct } from "../oncall/format.ts";
import { driftSummary, qualitySummary } from "../oncall/schedules.ts";
import type { StatusWorld } from "../oncall/status.ts";
import { exportSection, type TableView } from "./export-section.ts";
import { clockScript, cmd, esc, exportAnchor, tableOf, when } from "./html.ts";
import { nodesSection } from "./nodes-section.ts";
import { timelineChart } from "./svg.ts";

/**
 * The status page: the same snapshot as `spotferry status`, as one self-contained HTML document (inline CSS, SVG and
 * one small script, nothing fetched from elsewhere) that reloads itself every `refreshSec` seconds with a meta
 * refresh. Everything is rendered here, on the server: sorting is a `?sort=` link, so the page works with
 * JavaScript off; the script only keeps "3m ago" current between reloads.
 */

export interface PageView {
  world: StatusWorld;
  activity: Activity;
}

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.6rem}h3{font-size:1rem;margin:.3rem 0}h4{margin:.6rem 0 .2rem}
table{border-collapse:collapse;margin:.4rem 0}td,th{border-bottom:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}th a{color:inherit}
.critical{background:#fde2e2;border-left:4px solid #c00;padding:.4rem .6rem;margin:.3rem 0}.warning{background:#fff4d6;border-left:4px solid #d90;padding:.4rem .6rem;margin:.3rem 0}
.ok{background:#e5f6e5;border-left:4px solid #2a2;padding:.4rem .6rem}.hint{color:#555;font-family:monospace}.mono{font-family:monospace}
code.cmd{background:#f1f1f7;border:1px solid #ccd;border-radius:3px;padding:0 .3rem;white-space:nowrap;user-select:all}.problem{color:#a00}.err{color:#a00}
.st.QUARANTINED{color:#c00;font-weight:bold}.st.LEASED{color:#36c}.st.DONE{color:#2a7}time{border-bottom:1px dotted #999}
tr:has(a:target){background:#ffffc8}section:target{outline:2px solid #36c}
.pbar{display:inline-block;width:90px;height:9px;background:#eee;vertical-align:middle}.pbar i{display:block;height:9px;background:#2a7}
.export{border:1px solid #ddd;padding:.6rem;margin:.6rem 0}svg text{font-size:10px;fill:#555}.grid{stroke:#eee}.now{stroke:#999;stroke-dasharray:2 2}
.done{fill:none;stroke:#2a7;stroke-width:2}.proj{stroke:#2a7;stroke-dasharray:5 4}.bar{fill:#8ab}.bar.done{fill:#2a7}.axis{stroke:#999}
.tl{fill:#888}.tl.interrupted{fill:#c00}.tl.rotation{fill:#36c}.tl.drained{fill:#d90}.tick{stroke:#2a7;stroke-width:1.5}.incident{fill:#c00}
.incident.drained{fill:#d90}.incident.rotation{fill:#36c}.ev circle{fill:#333}.ev text{fill:#222;font-weight:bold}`;

export function renderPage(v: PageView, opts: { refreshSec: number; table: TableView }): string {
  const s = v.world.snapshot;
  const now = Date.parse(s.now);
  const scheduleRows = scheduleRowsOf(v.world);
  const timelineRows = s.timeline.map((t) => [when(t.at, now), esc(t.kind), esc(t.pool), esc(t.node ?? "-"), esc(t.detail)]);
  const oldestExport = Math.min(...s.exports.map((e) => Date.parse(e.createdAt)));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="${opts.refreshSec}">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>spotferry status</title><style>${CSS}</style></head>
<body><h1>spotferry status</h1><p>at ${when(s.now, now)} (${esc(s.now)}) · controller: ${leaderOf(v.world, now)} · refreshes every ${opts.refreshSec}s · <a href="status.json">JSON</a></p>
<h2>Needs a human</h2>${attentionOf(v.world)}
<h2>Exports</h2>${s.exports.length ? tableOf(["export", "state", "done", "rows", "rows/s", "ETA", "cost so far", "projected", "leased / pending / quarantined / done"].map(esc), exportRowsOf(v)) : "<p>No exports.</p>"}
${s.exports.map((e) => exportSection(v.world, v.activity, e, opts.table)).join("\n")}
<h2>Schedules</h2>${scheduleRows.length ? tableOf(["schedule", "run", "state", "watermark (after, up to]", "rows", "quality", "schema drift"].map(esc), scheduleRows) : "<p>No schedules.</p>"}
<h2>Pools</h2>${s.pools.length ? tableOf(["pool", "generation", "desired (min-max)", "nodes", "spot / on-demand", "oldest node", "pending", "interruptions / replacements", "cost so far"].map(esc), poolRowsOf(v.world)) : "<p>No pools.</p>"}
<h2>Nodes by zone and instance type</h2>${nodesSection(v.world, v.activity)}
<h2>Interruptions and rotations</h2>${timelineChart(s.timeline, now, Number.isFinite(oldestExport) ? oldestExport : undefined)}${timelineRows.length ? tableOf(["at", "what", "pool", "node", "detail"].map(esc), timelineRows) : ""}
<p class="hint">Cost: node price at launch x running time (an estimate); projected = spent + the export's running nodes' $/h over the ETA. Rates: chunks committed in the last ${duration(v.activity.windowMs / 1000)}, smoothed. Read-only page: act with the spotferry CLI.</p>
${clockScript(now)}</body></html>
`;
}

function leaderOf(w: StatusWorld, now: number): string {
  const l = w.snapshot.leader;
  if (!l) return `none has run ${cmd("spotferry controller run --config controller.yaml")}`;
  return l.expiresAt >= now
    ? `${esc(l.owner)} (lease held)`
    : `${esc(l.owner)} (lease expired ${when(new Date(l.expiresAt).toISOString(), now)}) ${cmd("spotferry controller run --config controller.yaml")}`;
}

function attentionOf(w: StatusWorld): string {
  const items = w.snapshot.attention;
  if (!items.length) return `<div class="ok">Nothing needs a human.</div>`;
  return items
    .map((a) => {
      const link = a.exportId
        ? ` <a href="#${exportAnchor(a.exportId)}${a.partitions?.length ? `-p-${a.partitions[0]}` : ""}">show</a>`
        : "";
      return `<div class="${a.level}" data-kind="${esc(a.kind)}"><b>${a.level.toUpperCase()}</b> ${esc(a.message)}${link}<br>${cmd(a.hint)}</div>`;
    })
    .join("");
}

function exportRowsOf(v: PageView): string[][] {
  return v.world.snapshot.exports.map((e) => {
    const a = v.activity.exports.get(e.exportId);
    return [
      `<a href="#${exportAnchor(e.exportId)}">${esc(e.exportId)}</a>`,
      esc(e.state),
      `<span class="pbar"><i style="width:${e.percent.toFixed(1)}%"></i></span> ${esc(pct(e.percent))}`,
      `${esc(num(e.rows))} / ${esc(num(e.estimatedRows))}`,
      esc(a?.rowsPerSec == null ? "-" : num(a.rowsPerSec)),
      esc(a?.etaSeconds == null || e.state !== "RUNNING" ? "-" : duration(a.etaSeconds)),
      esc(usd(e.costUsd)),
      esc(usd(a?.cost.projectedTotal ?? null)),
      `${e.partitions.LEASED} / ${e.partitions.PENDING} / ${e.partitions.QUARANTINED} / ${e.partitions.DONE}`,
    ];
  });
}

function poolRowsOf(w: StatusWorld): string[][] {
  const now = Date.parse(w.snapshot.now);
  return w.snapshot.pools.map((p) => [
    esc(p.pool),
    String(p.generation),
    `${p.desiredSize} (${p.min}-${p.max})`,
    `${p.nodes.READY} ready, ${p.nodes.LAUNCHING} launching, ${p.nodes.DRAINING} draining, ${p.nodes.INTERRUPTED} interrupted`,
    `${p.spot} / ${p.onDemand}`,
    esc(duration(p.oldestNodeAgeSec)),
    String(p.pendingPartitions),
    `${p.interruptions} / ${p.replacements}${p.rotateRequestedAt ? ` · rotation requested ${when(p.rotateRequestedAt, now)}` : ""}`,
    esc(usd(p.costUsd)),
  ]);
}

function scheduleRowsOf(w: StatusWorld): string[][] {
  return w.snapshot.schedules.flatMap((sc) =>
    sc.recentRuns.map((r) => [
      esc(sc.name),
      `${r.seq}${r.attempt > 1 ? ` (a${r.attempt})` : ""}`,
      esc(r.state),
      esc(`(${r.watermark.after ?? "-"}, ${r.watermark.upTo}]`),
      esc(num(r.rows)),
      esc(qualitySummary(r.quality)),
      esc(driftSummary(r.drift)),
    ]),
  );
}
