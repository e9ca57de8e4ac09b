import { formatUsd as usd } from "../oncall/cost.ts";
import { ago, duration, num, pct, rate } from "../oncall/format.ts";
import { driftSummary, qualitySummary } from "../oncall/schedules.ts";
import type { StatusSnapshot } from "../oncall/status.ts";
import { esc, histogramChart, progressChart, timelineChart } from "./svg.ts";

/**
 * The status page: the same snapshot as `spotferry status`, as one self-contained HTML document (inline CSS and
 * SVG, no script) that reloads itself every `refreshSec` seconds with a meta refresh.
 */

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;margin:.4rem 0}td,th{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left}th{background:#f4f4f4}
.critical{background:#fde2e2;border-left:4px solid #c00;padding:.4rem .6rem;margin:.3rem 0}.warning{background:#fff4d6;border-left:4px solid #d90;padding:.4rem .6rem;margin:.3rem 0}
.ok{background:#e5f6e5;border-left:4px solid #2a2;padding:.4rem .6rem}.hint{color:#555;font-family:monospace}
.pbar{display:inline-block;width:120px;height:10px;background:#eee;vertical-align:middle}.pbar i{display:block;height:10px;background:#2a7}
.export{border:1px solid #ddd;padding:.6rem;margin:.6rem 0}svg text{font-size:10px;fill:#555}.grid{stroke:#eee}.now{stroke:#999;stroke-dasharray:2 2}
.done{fill:none;stroke:#2a7;stroke-width:2}.proj{stroke:#2a7;stroke-dasharray:5 4}.bar{fill:#8ab}.bar.done{fill:#2a7}.axis{stroke:#999}
.tl{fill:#888}.tl.interrupted{fill:#c00}.tl.rotation{fill:#36c}.tl.drained{fill:#d90}`;

const tableOf = (head: string[], rows: unknown[][]) =>
  `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</table>`;

export function renderPage(s: StatusSnapshot, opts: { refreshSec: number }): string {
  const now = Date.parse(s.now);
  const scheduleRows = scheduleRowsOf(s);
  const nodeRows = nodeRowsOf(s);
  const timelineRows = s.timeline.map((t) => [esc(t.at), esc(t.kind), esc(t.pool), esc(t.node ?? "-"), esc(t.detail)]);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="${opts.refreshSec}">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>spotferry status</title><style>${CSS}</style></head>
<body><h1>spotferry status</h1><p>at ${esc(s.now)} · controller: ${leaderOf(s, now)} · refreshes every ${opts.refreshSec}s · <a href="status.json">JSON</a></p>
<h2>Needs a human</h2>${attentionOf(s)}
<h2>Exports</h2>${s.exports.length ? tableOf(["export", "state", "done", "rows", "rows/s", "ETA", "cost so far", "leased / pending / quarantined / done"], exportRowsOf(s)) : "<p>No exports.</p>"}
${exportChartsOf(s, now)}
<h2>Schedules</h2>${scheduleRows.length ? tableOf(["schedule", "run", "state", "watermark (after, up to]", "rows", "quality", "schema drift"], scheduleRows) : "<p>No schedules.</p>"}
<h2>Pools</h2>${s.pools.length ? tableOf(["pool", "generation", "desired (min-max)", "nodes", "spot / on-demand", "oldest node", "pending", "interruptions / replacements", "cost so far"], poolRowsOf(s)) : "<p>No pools.</p>"}
<h2>Nodes</h2>${nodeRows.length ? tableOf(["node", "pool", "lifecycle", "type / zone", "market", "$/h", "age", "heartbeat", "partitions", "rows/s"], nodeRows) : "<p>No live nodes.</p>"}
<h2>Interruptions and rotations</h2>${timelineChart(s.timeline, now)}${timelineRows.length ? tableOf(["at", "what", "pool", "node", "detail"], timelineRows) : ""}
<p class="hint">Cost: node price at launch x running time (an estimate). Read-only page: act with the spotferry CLI.</p>
</body></html>
`;
}

function leaderOf(s: StatusSnapshot, now: number): string {
  return s.leader
    ? `${esc(s.leader.owner)} (lease ${s.leader.expiresAt >= now ? "held" : `expired ${esc(ago(new Date(s.leader.expiresAt).toISOString(), now))}`})`
    : "none has run";
}

function attentionOf(s: StatusSnapshot): string {
  return s.attention.length
    ? s.attention
        .map(
          (a) =>
            `<div class="${a.level}" data-kind="${esc(a.kind)}"><b>${a.level.toUpperCase()}</b> ${esc(a.message)}<br><span class="hint">${esc(a.hint)}</span></div>`,
        )
        .join("")
    : `<div class="ok">Nothing needs a human.</div>`;
}

function exportRowsOf(s: StatusSnapshot): unknown[][] {
  return s.exports.map((e) => [
    `<a href="#${esc(e.exportId)}">${esc(e.exportId)}</a>`,
    esc(e.state),
    `<span class="pbar"><i style="width:${e.percent.toFixed(1)}%"></i></span> ${esc(pct(e.percent))}`,
    `${esc(num(e.rows))} / ${esc(num(e.estimatedRows))}`,
    esc(e.state === "RUNNING" ? rate(e.rowsPerSec) : "-"),
    esc(e.etaSeconds === null ? "-" : duration(e.etaSeconds)),
    esc(usd(e.costUsd)),
    `${e.partitions.LEASED} / ${e.partitions.PENDING} / ${e.partitions.QUARANTINED} / ${e.partitions.DONE}`,
  ]);
}

function exportChartsOf(s: StatusSnapshot, now: number): string {
  return s.exports
    .map(
      (
        e,
      ) => `<div class="export" id="${esc(e.exportId)}"><b>${esc(e.exportId)}</b> ${esc(e.state)} · ${esc(e.source)} · pool ${esc(e.pool)} · ${esc(pct(e.percent))}
${e.error ? `<div class="warning">${esc(e.error)}</div>` : ""}<div>${progressChart(e, now)} ${e.fractions.length ? histogramChart(e.fractions) : ""}</div></div>`,
    )
    .join("");
}

function poolRowsOf(s: StatusSnapshot): unknown[][] {
  return s.pools.map((p) => [
    esc(p.pool),
    p.generation,
    `${p.desiredSize} (${p.min}-${p.max})`,
    `${p.nodes.READY} ready, ${p.nodes.LAUNCHING} launching, ${p.nodes.DRAINING} draining, ${p.nodes.INTERRUPTED} interrupted`,
    `${p.spot} / ${p.onDemand}`,
    esc(duration(p.oldestNodeAgeSec)),
    p.pendingPartitions,
    `${p.interruptions} / ${p.replacements}`,
    esc(usd(p.costUsd)),
  ]);
}

function nodeRowsOf(s: StatusSnapshot): unknown[][] {
  return s.nodes
    .filter((n) => n.lifecycle !== "TERMINATED")
    .map((n) => [
      esc(n.instanceId),
      esc(n.pool),
      esc(n.lifecycle),
      esc(`${n.instanceType} ${n.zone}`),
      esc(n.market),
      esc(`$${n.price.toFixed(4)}`),
      esc(duration(n.ageSec)),
      esc(n.heartbeatAgeSec === null ? "-" : `${duration(n.heartbeatAgeSec)} ago`),
      esc(n.partitions.join(", ") || "-"),
      esc(n.partitions.length ? rate(n.rowsPerSec) : "-"),
    ]);
}

function scheduleRowsOf(s: StatusSnapshot): unknown[][] {
  return s.schedules.flatMap((sc) =>
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
