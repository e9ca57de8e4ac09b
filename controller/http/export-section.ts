import type { Activity, ExportActivity } from "../oncall/activity.ts";
import { formatUsd as usd } from "../oncall/cost.ts";
import { duration, num, pct, rate } from "../oncall/format.ts";
import { type PartitionRow, partitionRows, SORT_KEYS, type SortKey, sortPartitionRows } from "../oncall/partitions.ts";
import type { ExportStatus, StatusWorld } from "../oncall/status.ts";
import { cmd, esc, exportAnchor, partitionAnchor, tableOf, when } from "./html.ts";
import { histogramChart, progressChart } from "./svg.ts";
import { lifetimeChart } from "./timeline-svg.ts";

/** One export's block on the status page: figures, charts, the lifetime timeline and the partition table. */

export interface TableView {
  sort: SortKey;
  desc: boolean;
  /** Rows shown per partition table (the rest are a link away). */
  rows: number;
}

const finished = (s: ExportStatus["state"]) => s === "SUCCEEDED" || s === "FAILED" || s === "CANCELLED";

export function exportSection(w: StatusWorld, a: Activity, e: ExportStatus, view: TableView): string {
  const now = Date.parse(w.snapshot.now);
  const act = a.exports.get(e.exportId);
  const id = exportAnchor(e.exportId);
  const end = finished(e.state) ? Date.parse(w.records.get(e.exportId)?.updatedAt ?? w.snapshot.now) : now;
  const timeline = lifetimeChart({
    exportId: e.exportId,
    start: Date.parse(e.createdAt),
    end,
    endLabel: finished(e.state) ? e.state.toLowerCase() : "now",
    completions: e.completions,
    lastProgressAt: e.lastProgressAt,
    incidents: act?.incidents ?? [],
  });
  const failed =
    e.state === "FAILED"
      ? `<div class="critical">FAILED: ${esc(e.error ?? "no error recorded")} ${cmd(`spotferry why ${e.exportId}`)}</div>`
      : "";
  return `<section class="export" id="${id}" data-export="${esc(e.exportId)}"><h3><a href="#${id}">${esc(e.exportId)}</a> ${esc(e.state)} · ${esc(e.source)} · pool ${esc(e.pool)} · planned ${when(e.createdAt, now)}</h3>
${failed}${e.state !== "FAILED" && e.error ? `<div class="warning">${esc(e.error)}</div>` : ""}${figures(e, act)}
<div>${timeline}</div><div>${progressChart(e, now)} ${e.fractions.length ? histogramChart(e.fractions) : ""}</div>
${partitionTable(w, e, view, now)}</section>`;
}

/** Rate, ETA and cost in one line, each saying how it was measured. */
function figures(e: ExportStatus, a: ExportActivity | undefined): string {
  if (!a) return "";
  const c = a.cost;
  const measured =
    a.rowsPerSec === null
      ? finished(e.state)
        ? "finished"
        : `no chunk committed in the last ${duration(a.windowSec)}`
      : `${rate(a.rowsPerSec)} rows/s (smoothed over the last ${duration(a.windowSec)})`;
  const remaining = c.projectedTotal === null ? null : c.projectedTotal - c.costSoFar;
  const projected = `<span data-projected-cost="${c.projectedTotal ?? ""}"><b>${esc(usd(c.projectedTotal))}</b></span>`;
  const nodes =
    c.nodes === 0
      ? " · no fleet node is attributed to it (a local run, or nodes launched for another export)"
      : ` · ${c.billedNodes} node(s) billed, ${usd(c.burnPerHour)}/h`;
  return `<p class="figures">${esc(pct(e.percent))} · ${esc(num(e.rows))} / ${esc(num(e.estimatedRows))} rows · rate <span data-rate>${esc(measured)}</span> · ETA <span data-eta>${esc(a.etaSeconds === null ? "unknown" : duration(a.etaSeconds))}</span>
· projected cost ${projected} = spent ${esc(usd(c.costSoFar))} + ${esc(usd(remaining))} to finish at the current rate${esc(nodes)}</p>`;
}

function sortLink(e: ExportStatus, k: SortKey, label: string, view: TableView): string {
  const current = view.sort === k;
  const desc = current ? !view.desc : false;
  const arrow = current ? (view.desc ? " ▼" : " ▲") : "";
  return `<a href="?sort=${k}${desc ? "&amp;dir=desc" : ""}${view.rows !== DEFAULT_ROWS ? `&amp;rows=${view.rows}` : ""}#${exportAnchor(e.exportId)}-partitions" data-sort="${k}">${esc(label)}${arrow}</a>`;
}

export const DEFAULT_ROWS = 200;
const HEAD: [SortKey, string][] = [
  ["partition", "#"],
  ["state", "state"],
  ["cursor", "cursor %"],
  ["owner", "owner"],
  ["attempts", "attempts"],
  ["error", "last error"],
  ["rows", "rows"],
  ["updated", "updated"],
];

function partitionTable(w: StatusWorld, e: ExportStatus, view: TableView, now: number): string {
  const rec = w.records.get(e.exportId);
  const parts = w.partitions.get(e.exportId);
  if (!rec || !parts)
    return `<p class="hint">Partitions are not read for a SUCCEEDED export: ${cmd(`spotferry export show ${e.exportId}`)}</p>`;
  const rows = sortPartitionRows(partitionRows(w, rec, parts, now), view.sort, view.desc);
  const shown = rows.slice(0, view.rows);
  const head = HEAD.map(([k, label]) => sortLink(e, k, label, view));
  head.splice(1, 0, "range (lo..hi)");
  head.push("problem / command");
  const more =
    rows.length > shown.length
      ? `<p class="hint">showing ${shown.length} of ${rows.length} partitions: <a href="?sort=${view.sort}${view.desc ? "&amp;dir=desc" : ""}&amp;rows=${rows.length}#${exportAnchor(e.exportId)}-partitions">show all</a></p>`
      : "";
  const body = shown.map((r) => partitionRow(e, r, now));
  return `<h4 id="${exportAnchor(e.exportId)}-partitions">Partitions (${rows.length})</h4>${tableOf(head, body, `class="partitions" data-export="${esc(e.exportId)}" data-sorted="${view.sort}${view.desc ? ":desc" : ""}"`)}${more}`;
}

function partitionRow(e: ExportStatus, r: PartitionRow, now: number): string[] {
  const anchor = partitionAnchor(e.exportId, r.partition);
  return [
    `<a id="${anchor}" href="#${anchor}">${r.partition}</a>`,
    `<span class="mono">${esc(r.range)}</span>`,
    `<span class="st ${r.state}">${r.state}</span>`,
    `<span class="pbar" title="${r.basis === "keys" ? "cursor position in the key range" : "committed rows over the plan's estimate"}"><i style="width:${r.cursorPct.toFixed(1)}%"></i></span> ${esc(pct(r.cursorPct))}`,
    esc(r.owner ?? "-"),
    String(r.attempts),
    r.lastError ? `<span class="err" title="${esc(r.lastError)}">${esc(r.lastError.slice(0, 80))}</span>` : "-",
    `${esc(num(r.rows))} / ${esc(num(r.estimatedRows))}`,
    when(r.updatedAt, now),
    r.problem ? `<span class="problem">${esc(r.problem.what)}</span> ${cmd(r.problem.command)}` : "",
  ];
}

export function parseTableView(params: URLSearchParams): TableView {
  const sort = params.get("sort");
  const rows = Number(params.get("rows"));
  return {
    sort: (SORT_KEYS as readonly string[]).includes(sort ?? "") ? (sort as SortKey) : "state",
    desc: params.get("dir") === "desc",
    rows: Number.isInteger(rows) && rows > 0 ? Math.min(rows, 100_000) : DEFAULT_ROWS,
  };
}
