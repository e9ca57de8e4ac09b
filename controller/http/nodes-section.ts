import type { Activity } from "../oncall/activity.ts";
import { duration, rate } from "../oncall/format.ts";
import type { NodeStatus, StatusWorld } from "../oncall/status.ts";
import { cmd, esc, partitionAnchor, tableOf, when } from "./html.ts";

/**
 * Live nodes grouped by zone and instance type (what a spot interruption wave hits together), each with the command
 * that acts on its problem. Rows/s is the node's own commits over the activity window, so a node between two chunks
 * does not read 0; a node that holds work but has committed nothing yet reads "starting".
 */
export function nodesSection(w: StatusWorld, a: Activity): string {
  const now = Date.parse(w.snapshot.now);
  const live = w.snapshot.nodes.filter((n) => n.lifecycle !== "TERMINATED");
  if (!live.length) return "<p>No live nodes.</p>";
  const groups = new Map<string, NodeStatus[]>();
  for (const n of live) {
    const k = `${n.zone}\u0000${n.instanceType}`;
    groups.set(k, [...(groups.get(k) ?? []), n]);
  }
  return [...groups.entries()]
    .sort(([x], [y]) => x.localeCompare(y))
    .map(([k, nodes]) => {
      const [zone, type] = k.split("\u0000");
      const spot = nodes.filter((n) => n.market === "spot").length;
      const perHour = nodes.reduce((s, n) => s + n.price, 0);
      const head = ["node", "pool", "lifecycle", "market", "$/h", "launched", "last seen", "partitions", "rows/s", "problem / command"];
      const rows = nodes.map((n) => nodeRow(w, a, n, now));
      return `<h3 class="nodegroup" data-zone="${esc(zone)}" data-type="${esc(type)}">${esc(zone)} · ${esc(type)}: ${nodes.length} node(s), ${spot} spot / ${nodes.length - spot} on-demand, $${perHour.toFixed(4)}/h</h3>${tableOf(head.map(esc), rows, 'class="nodes"')}`;
    })
    .join("");
}

function nodeRow(w: StatusWorld, a: Activity, n: NodeStatus, now: number): string[] {
  const r = a.nodeRates.get(n.instanceId);
  const shownRate = r === undefined || (r === null && !n.partitions.length) ? "-" : r === null ? "starting" : rate(r);
  const links = n.partitions.map((p) => {
    const [exportId, num] = [p.slice(0, p.lastIndexOf("/")), Number(p.slice(p.lastIndexOf("/") + 1))];
    return Number.isInteger(num) ? `<a href="#${partitionAnchor(exportId, num)}">${esc(p)}</a>` : esc(p);
  });
  return [
    esc(n.instanceId),
    esc(n.pool),
    esc(n.lifecycle),
    esc(n.market),
    esc(`$${n.price.toFixed(4)}`),
    when(n.launchedAt, now),
    when(n.lastSeenAt, now),
    links.join(", ") || "-",
    esc(shownRate),
    problemOf(w, n),
  ];
}

function problemOf(w: StatusWorld, n: NodeStatus): string {
  const show = cmd(`spotferry node show ${n.instanceId}`);
  if (n.lifecycle === "INTERRUPTED") return `<span class="problem">interrupted${n.reason ? `: ${esc(n.reason)}` : ""}</span> ${show}`;
  const silent = n.lifecycle === "READY" && (n.heartbeatAgeSec ?? n.ageSec) > w.settings.heartbeatTimeoutSec;
  if (silent)
    return `<span class="problem">no heartbeat for ${esc(duration(n.heartbeatAgeSec ?? n.ageSec))}</span> ${show} ${cmd(`spotferry drain ${n.instanceId}`)}`;
  if (n.lifecycle === "DRAINING") return `<span class="hint">draining ${esc(n.reason ?? "")}</span>`;
  return "";
}
