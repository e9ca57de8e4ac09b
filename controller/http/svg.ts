import { duration } from "../oncall/format.ts";
import type { ExportStatus } from "../oncall/status.ts";
import type { TimelineItem } from "../oncall/timeline.ts";

/** Inline SVG charts for the status page: no scripts, no fonts, no CDN (the page must work on an offline host). */

export const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);

const W = 560;
const H = 160;
const PAD = { l: 56, r: 12, t: 10, b: 24 };
const shortNum = (x: number) =>
  x >= 1e9
    ? `${(x / 1e9).toFixed(1)}G`
    : x >= 1e6
      ? `${(x / 1e6).toFixed(1)}M`
      : x >= 1e3
        ? `${(x / 1e3).toFixed(0)}k`
        : String(Math.round(x));
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

/**
 * Rows over time: completed partitions' rows at their completion times (the only history the table keeps cheaply),
 * the rows committed so far at `now`, and a dashed projection to the ETA.
 */
export function progressChart(e: ExportStatus, now: number): string {
  const start = Date.parse(e.createdAt);
  const eta = e.etaAt ? Date.parse(e.etaAt) : null;
  const end = Math.max(now, eta ?? now, start + 60_000);
  const maxY = Math.max(1, e.estimatedRows, e.rows);
  const x = (t: number) => PAD.l + ((t - start) / (end - start)) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / maxY) * (H - PAD.t - PAD.b);
  const pts: [number, number][] = [[start, 0]];
  let sum = 0;
  for (const [at, rows] of e.completions) {
    sum += rows;
    pts.push([Date.parse(at), sum]);
  }
  pts.push([now, Math.max(sum, e.rows)]);
  const line = pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const projection =
    eta && e.etaSeconds && e.etaSeconds > 0
      ? `<line class="proj" x1="${x(now).toFixed(1)}" y1="${y(e.rows).toFixed(1)}" x2="${x(eta).toFixed(1)}" y2="${y(e.estimatedRows).toFixed(1)}"/>`
      : "";
  const ticks = [0, 0.5, 1]
    .map(
      (f) =>
        `<text x="${PAD.l - 6}" y="${(y(f * maxY) + 4).toFixed(1)}" text-anchor="end">${shortNum(f * maxY)}</text><line class="grid" x1="${PAD.l}" x2="${W - PAD.r}" y1="${y(f * maxY).toFixed(1)}" y2="${y(f * maxY).toFixed(1)}"/>`,
    )
    .join("");
  return `<svg class="chart" role="img" aria-label="progress of ${esc(e.exportId)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">
${ticks}<text x="${PAD.l}" y="${H - 6}">${hhmm(start)}</text><text x="${W - PAD.r}" y="${H - 6}" text-anchor="end">${hhmm(end)}${eta ? " (ETA)" : ""}</text>
<line class="now" x1="${x(now).toFixed(1)}" x2="${x(now).toFixed(1)}" y1="${PAD.t}" y2="${H - PAD.b}"/>
<polyline class="done" points="${line}"/>${projection}
</svg>`;
}

/** Partitions by fraction done (10 buckets + done) as bars. */
export function histogramChart(fractions: number[]): string {
  const counts = Array.from({ length: 11 }, () => 0);
  for (const f of fractions) {
    const i = f >= 1 ? 10 : Math.min(9, Math.floor(f * 10));
    counts[i] = (counts[i] ?? 0) + 1;
  }
  const max = Math.max(1, ...counts);
  const bw = 22;
  const h = 60;
  const bars = counts
    .map((c, i) => {
      const bh = (c / max) * (h - 14);
      return `<rect class="${i === 10 ? "bar done" : "bar"}" x="${i * (bw + 4)}" y="${(h - 12 - bh).toFixed(1)}" width="${bw}" height="${bh.toFixed(1)}"><title>${i === 10 ? "done" : `${i * 10}-${i * 10 + 10}%`}: ${c}</title></rect><text x="${i * (bw + 4) + bw / 2}" y="${h - 1}" text-anchor="middle">${i === 10 ? "✓" : i * 10}</text>`;
    })
    .join("");
  return `<svg class="hist" role="img" aria-label="partitions by progress" viewBox="0 0 ${11 * (bw + 4)} ${h}" width="${11 * (bw + 4)}" height="${h}">${bars}</svg>`;
}

/**
 * Interruptions, drains and rotations on one time axis (newest at the right), from `start` (the oldest export shown,
 * else the oldest item) to now: not a fixed hour, so a short run does not pile up at the right edge.
 */
export function timelineChart(items: TimelineItem[], now: number, since?: number): string {
  if (!items.length) return "<p>No interruptions or rotations recorded.</p>";
  const times = items.map((i) => Date.parse(i.at));
  const oldest = Math.min(...times, since ?? Number.POSITIVE_INFINITY);
  const start = oldest - Math.max(1000, (now - oldest) * 0.02);
  const x = (t: number) => 10 + ((t - start) / (now - start || 1)) * (W + 200 - 20);
  const marks = items
    .map((i) => {
      const cx = x(Date.parse(i.at)).toFixed(1);
      return `<circle class="tl ${esc(i.kind)}" cx="${cx}" cy="20" r="5"><title>${esc(`${i.at} ${i.kind} ${i.node ?? i.pool}: ${i.detail}`)}</title></circle>`;
    })
    .join("");
  return `<svg class="timeline" role="img" aria-label="interruptions and rotations" viewBox="0 0 ${W + 200} 44" width="${W + 200}" height="44">
<line class="axis" x1="10" x2="${W + 190}" y1="20" y2="20"/>${marks}
<text x="10" y="40">${hhmm(start)}</text><text x="${W + 190}" y="40" text-anchor="end">now ${hhmm(now)} (${duration((now - start) / 1000)})</text></svg>`;
}
