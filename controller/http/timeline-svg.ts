import type { Incident } from "../oncall/activity.ts";
import { duration } from "../oncall/format.ts";
import { esc } from "./svg.ts";

/**
 * An export's timeline, scaled to its lifetime: from its plan to now (or to its end once finished), so a 3-minute
 * run fills the width as a 3-day one does. Partition completions are ticks, incidents (interruptions, reaps,
 * revokes, failures, quarantines, node losses in its pool) red marks; the first and the last event are labelled.
 */
export interface LifetimeInput {
  exportId: string;
  /** Plan time (the export's createdAt), ms. */
  start: number;
  /** Now, or when the export finished, ms. */
  end: number;
  /** "now", or the final state ("succeeded", "failed", "cancelled"). */
  endLabel: string;
  completions: readonly [string, number][];
  /** Newest committed chunk or completion. */
  lastProgressAt: string | null;
  incidents: readonly Incident[];
}

const W = 760;
const H = 84;
const L = 12;
const R = 12;
const AXIS_Y = 44;
const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);
const iso = (ms: number) => new Date(ms).toISOString();

export function lifetimeChart(t: LifetimeInput): string {
  const span = Math.max(1000, t.end - t.start);
  const x = (ms: number) => L + (Math.max(0, Math.min(span, ms - t.start)) / span) * (W - L - R);
  const ticks = [0.25, 0.5, 0.75]
    .map((f) => {
      const ms = t.start + f * span;
      return `<line class="grid" x1="${x(ms).toFixed(1)}" x2="${x(ms).toFixed(1)}" y1="${AXIS_Y - 10}" y2="${AXIS_Y + 4}"/><text x="${x(ms).toFixed(1)}" y="${AXIS_Y + 16}" text-anchor="middle">+${esc(duration((f * span) / 1000))}</text>`;
    })
    .join("");
  const done = t.completions
    .map(
      ([at, rows]) =>
        `<line class="tick" x1="${x(Date.parse(at)).toFixed(1)}" x2="${x(Date.parse(at)).toFixed(1)}" y1="${AXIS_Y - 8}" y2="${AXIS_Y}"><title>${esc(`${at} partition done: ${rows} rows`)}</title></line>`,
    )
    .join("");
  const marks = t.incidents
    .map((i) => {
      const cx = x(Date.parse(i.at)).toFixed(1);
      const who = i.partition === null ? (i.node ?? "") : `partition ${i.partition}${i.node ? ` (${i.node})` : ""}`;
      return `<path class="incident ${esc(i.kind)}" data-incident="${esc(i.kind)}" d="M${cx} ${AXIS_Y + 2}l-5 -10h10z"><title>${esc(`${i.at} ${i.kind} ${who}: ${i.detail}`)}</title></path>`;
    })
    .join("");
  const last = lastEvent(t);
  const lastX = x(last.at);
  // Labels of a first and last event close together go on two rows rather than over each other.
  const labelY = lastX - L < 260 ? AXIS_Y - 28 : AXIS_Y - 14;
  const lastLabel = `<g class="ev last" data-event="last" data-at="${esc(iso(last.at))}"><circle cx="${lastX.toFixed(1)}" cy="${AXIS_Y}" r="4"/><text x="${lastX.toFixed(1)}" y="${labelY}" text-anchor="${lastX > W / 2 ? "end" : "start"}">last: ${esc(last.what)} ${hms(last.at)}</text></g>`;
  return `<svg class="lifetime" role="img" aria-label="timeline of ${esc(t.exportId)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">
<line class="axis" x1="${L}" x2="${W - R}" y1="${AXIS_Y}" y2="${AXIS_Y}"/>${ticks}${done}${marks}
<g class="ev first" data-event="first" data-at="${esc(iso(t.start))}"><circle cx="${L}" cy="${AXIS_Y}" r="4"/><text x="${L}" y="${AXIS_Y - 14}">first: planned ${hms(t.start)}</text></g>
${lastLabel}<text x="${L}" y="${H - 4}">${hms(t.start)} UTC</text><text x="${W - R}" y="${H - 4}" text-anchor="end">${esc(t.endLabel)} ${hms(t.end)} UTC (${esc(duration(span / 1000))})</text></svg>`;
}

/** The newest thing that happened: a completion, a committed chunk, an incident, or the end itself once finished. */
function lastEvent(t: LifetimeInput): { at: number; what: string } {
  const candidates: { at: number; what: string }[] = [{ at: t.start, what: "planned" }];
  for (const [at] of t.completions) candidates.push({ at: Date.parse(at), what: "partition done" });
  if (t.lastProgressAt) candidates.push({ at: Date.parse(t.lastProgressAt), what: "chunk committed" });
  for (const i of t.incidents) candidates.push({ at: Date.parse(i.at), what: i.kind });
  if (t.endLabel !== "now") candidates.push({ at: t.end, what: t.endLabel });
  return candidates.filter((c) => Number.isFinite(c.at) && c.at <= t.end).reduce((a, b) => (b.at >= a.at ? b : a));
}
