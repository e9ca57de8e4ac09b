import type { EventRecord, PartitionRecord } from "../../config/records.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { RateWindow } from "../../lib/progress/rate-window.ts";
import { type ExportCostEstimate, estimateExportCost, nodesOfExport } from "./cost.ts";
import { recentLedgers } from "./reads.ts";
import { type ExportStatus, partKey, type StatusWorld } from "./status.ts";

/**
 * Recent activity for the status page: a smoothed rate and ETA per export, a rate per node that does not drop to 0
 * between two commits, and the incidents (interruptions, reaps, revokes, failures, quarantines) on each export's
 * timeline.
 *
 * Why stateless: the page is served by a process that may have just started, and every tab reloads on its own, so it
 * cannot rely on having sampled the export before. The state table already holds the history: every committed chunk
 * is a "checkpointed" ledger event with its time and rows. So each request rebuilds the cumulative rows of the last
 * `windowMs` from those events (the LEASED partitions' ledgers, already read for the snapshot, plus the partitions
 * that finished or were handed back within the window), replays it through lib/progress/rate-window.ts at a fixed
 * step as if a progress bar had been polling, and reads the smoothed rate at `now`. Two requests a second apart
 * therefore agree, and a chunk landing moves the figure a little instead of threefold.
 */

export interface ActivityOptions {
  now: number;
  /** History replayed (default 5 min). */
  windowMs?: number;
  /** Extra ledgers read for partitions that are no longer LEASED but changed within the window (default 64). */
  extraLedgers?: number;
}

export interface Incident {
  at: string;
  kind: "interrupted" | "reaped" | "revoked" | "failed" | "quarantined" | "node-interrupted" | "drained" | "rotation";
  partition: number | null;
  node: string | null;
  detail: string;
}

export interface ExportActivity {
  exportId: string;
  /** Smoothed rows/s at now; null when no chunk was committed within the window. */
  rowsPerSec: number | null;
  /** The span the rate was measured over, seconds. */
  windowSec: number;
  /** Seconds to finish at that rate (0 when finished or nothing remains; null when unknown). */
  etaSeconds: number | null;
  /** Spent so far + the export's running nodes' burn over the ETA (controller/oncall/cost.ts). */
  cost: ExportCostEstimate;
  /** Oldest first. */
  incidents: Incident[];
}

export interface Activity {
  windowMs: number;
  exports: Map<string, ExportActivity>;
  /** Rows/s per node over the window; null for a node that holds work but has committed nothing in it yet. */
  nodeRates: Map<string, number | null>;
}

interface Commit {
  at: number;
  rows: number;
  node: string | null;
  exportId: string;
}

const ROWS = /: (\d+) rows/;
const INCIDENT_KINDS = new Set(["interrupted", "reaped", "revoked", "failed", "quarantined"]);
const STEP_MS = 5_000;
const finished = (s: ExportStatus["state"]) => s === "SUCCEEDED" || s === "FAILED" || s === "CANCELLED";

export async function readActivity(jobs: JobStore, w: StatusWorld, opts: ActivityOptions): Promise<Activity> {
  const windowMs = opts.windowMs ?? 300_000;
  const since = opts.now - windowMs;
  const recent = [...w.partitions.values()]
    .flat()
    .filter((p) => p.state !== "LEASED" && Date.parse(p.updatedAt) >= since)
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
    .slice(0, opts.extraLedgers ?? 64);
  const extra = await recentLedgers(jobs, recent);
  const ledgers = new Map(w.ledgers);
  recent.forEach((p, i) => {
    ledgers.set(partKey(p.exportId, p.partition), extra[i] ?? []);
  });
  return activityOf(w, ledgers, { now: opts.now, windowMs });
}

/** The pure part of readActivity: everything from ledgers already read (by partKey, newest first). */
export function activityOf(w: StatusWorld, ledgers: Map<string, EventRecord[]>, opts: { now: number; windowMs: number }): Activity {
  const events = [...ledgers.values()].flat();
  const commits: Commit[] = events
    .filter((e) => e.kind === "checkpointed" && Date.parse(e.at) > opts.now - opts.windowMs && Date.parse(e.at) <= opts.now)
    .map((e) => ({ at: Date.parse(e.at), rows: Number(ROWS.exec(e.detail ?? "")?.[1] ?? 0), node: e.node, exportId: e.exportId }));
  const exports = new Map<string, ExportActivity>();
  for (const e of w.snapshot.exports) {
    exports.set(e.exportId, exportActivity(w, e, { commits, events, ...opts }));
  }
  return { windowMs: opts.windowMs, exports, nodeRates: nodeRates(w, commits, events, opts) };
}

function exportActivity(
  w: StatusWorld,
  e: ExportStatus,
  x: { commits: Commit[]; events: EventRecord[]; now: number; windowMs: number },
): ExportActivity {
  const start = Date.parse(e.createdAt);
  const done = finished(e.state);
  const mine = x.commits.filter((c) => c.exportId === e.exportId);
  const measured = done ? null : smoothedRate(mine, { from: Math.max(start, x.now - x.windowMs), now: x.now });
  const remaining = Math.max(0, e.estimatedRows * (1 - e.percent / 100));
  const cost = estimateExportCost({
    exportId: e.exportId,
    nodes: nodesOfExport(w.nodeRecords, e.exportId),
    rowsDone: e.estimatedRows - remaining,
    rowsTotal: e.estimatedRows,
    now: x.now,
    // Nothing committed within the window: the cost module falls back to the lifetime average, which is steady.
    rowsPerSecond: measured?.rate ?? undefined,
    startedAt: start,
    finished: done,
  });
  const etaMs = measured?.etaMs(remaining) ?? null;
  const etaSeconds = done || remaining === 0 ? 0 : measured ? (etaMs === null ? null : etaMs / 1000) : cost.etaSeconds;
  return {
    exportId: e.exportId,
    rowsPerSec: measured?.rate ?? null,
    windowSec: Math.max(0, x.now - Math.max(start, x.now - x.windowMs)) / 1000,
    etaSeconds,
    cost,
    incidents: incidentsOf(w, e, x.events, x.now),
  };
}

/**
 * Replays commits as cumulative totals sampled every STEP_MS into a RateWindow whose own window is three mean gaps
 * between commits (at least a minute, at most the whole span), so chunks that land every two minutes do not read as
 * bursts and idle gaps. Null when nothing was committed in the span.
 */
export function smoothedRate(commits: readonly { at: number; rows: number }[], span: { from: number; now: number }) {
  const sorted = commits.filter((c) => c.at > span.from && c.at <= span.now).sort((a, b) => a.at - b.at);
  if (!sorted.length || span.now <= span.from) return null;
  const gap = sorted.length > 1 ? ((sorted.at(-1)?.at ?? 0) - (sorted[0]?.at ?? 0)) / (sorted.length - 1) : span.now - span.from;
  const rw = new RateWindow({ windowMs: Math.min(span.now - span.from, Math.max(60_000, 3 * gap)) });
  let total = 0;
  let i = 0;
  for (let t = span.from; ; t = Math.min(span.now, t + STEP_MS)) {
    while (i < sorted.length && (sorted[i] as { at: number }).at <= t) total += (sorted[i++] as { rows: number }).rows;
    rw.add(total, t);
    if (t >= span.now) break;
  }
  const rate = rw.rate() ?? 0;
  return { rate, etaMs: (remaining: number) => rw.etaMs(remaining) };
}

/**
 * A node's rate is its own commits over the window (from its launch or first claim in it, if later), so a node
 * between two chunks, or just moved to its next partition, still shows what it does; null for a node holding work
 * that has committed nothing yet.
 */
function nodeRates(w: StatusWorld, commits: Commit[], events: EventRecord[], opts: { now: number; windowMs: number }) {
  const out = new Map<string, number | null>();
  for (const n of w.snapshot.nodes) {
    if (n.lifecycle === "TERMINATED") continue;
    const mine = commits.filter((c) => c.node === n.instanceId);
    const claims = events.filter((e) => e.kind === "claimed" && e.node === n.instanceId).map((e) => Date.parse(e.at));
    const from = Math.max(opts.now - opts.windowMs, Date.parse(n.launchedAt), Math.min(opts.now, ...claims));
    const rows = mine.reduce((s, c) => s + c.rows, 0);
    if (!rows) {
      out.set(n.instanceId, n.partitions.length ? null : 0);
      continue;
    }
    out.set(n.instanceId, opts.now > from ? (rows * 1000) / (opts.now - from) : null);
  }
  return out;
}

/** Ledger incidents of the partitions read, quarantined partitions, and the fleet timeline of the export's pool. */
function incidentsOf(w: StatusWorld, e: ExportStatus, events: EventRecord[], now: number): Incident[] {
  const start = e.createdAt;
  const end = finished(e.state) ? (w.records.get(e.exportId)?.updatedAt ?? new Date(now).toISOString()) : new Date(now).toISOString();
  const inSpan = (at: string) => at >= start && at <= end;
  const out: Incident[] = events
    .filter((ev) => ev.exportId === e.exportId && INCIDENT_KINDS.has(ev.kind) && inSpan(ev.at))
    .map((ev) => ({
      at: ev.at,
      kind: ev.kind as Incident["kind"],
      partition: ev.partition,
      node: ev.kind === "revoked" ? (ev.formerOwner ?? null) : ev.node,
      detail: ev.detail ?? ev.kind,
    }));
  const seen = new Set(out.filter((i) => i.kind === "quarantined").map((i) => i.partition));
  for (const p of w.partitions.get(e.exportId) ?? []) {
    if (p.state === "QUARANTINED" && !seen.has(p.partition) && inSpan(p.updatedAt)) out.push(quarantineOf(p));
  }
  for (const t of w.snapshot.timeline) {
    if (t.pool !== e.pool || !inSpan(t.at) || t.kind === "terminated") continue;
    const kind = t.kind === "interrupted" ? "node-interrupted" : t.kind;
    out.push({ at: t.at, kind, partition: null, node: t.node, detail: t.detail });
  }
  return out.sort((a, b) => a.at.localeCompare(b.at));
}

const quarantineOf = (p: PartitionRecord): Incident => ({
  at: p.updatedAt,
  kind: "quarantined",
  partition: p.partition,
  node: null,
  detail: `quarantined after ${p.attempts} attempts: ${p.lastError ?? "no error recorded"}`,
});
