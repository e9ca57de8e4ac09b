import { ago } from "../oncall/format.ts";
import { esc } from "./svg.ts";

/** Small HTML builders shared by the status page's sections. Every value goes through `esc`; markup is trusted. */

export { esc };

/** A table; `head` cells are markup (so a section can put sort links in them), body cells are markup too. */
export function tableOf(head: string[], rows: string[][], attrs = ""): string {
  const th = head.map((h) => `<th>${h}</th>`).join("");
  return `<table${attrs ? ` ${attrs}` : ""}><thead><tr>${th}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}

/** "3m ago", with the exact UTC time on hover; the page's script keeps the text current between reloads. */
export function when(iso: string | null, now: number): string {
  if (!iso) return "-";
  return `<time datetime="${esc(iso)}" title="${esc(iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC"))}">${esc(ago(iso, now))}</time>`;
}

/** A CLI command to copy, beside the problem it acts on. */
export const cmd = (command: string) => `<code class="cmd">${esc(command)}</code>`;

/** The id of an export's section and of one of its partitions' rows (stable, so links survive reloads). */
export const exportAnchor = (exportId: string) => `export-${exportId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
export const partitionAnchor = (exportId: string, partition: number) => `${exportAnchor(exportId)}-p-${partition}`;

/**
 * The page's only script: keeps relative times current between reloads, measured from the server's clock (which a
 * test may have fixed) plus the time since the page loaded, not from the browser's clock. Marks <html data-js="ran">.
 */
export function clockScript(serverNow: number): string {
  return `<script>(function(){var base=${serverNow},t0=performance.now();
function fmt(s){var a=Math.abs(Math.round(s)),t=a<60?a+"s":a<3600?Math.floor(a/60)+"m"+(a%60?String(a%60).padStart(2,"0")+"s":""):a<86400?Math.floor(a/3600)+"h"+String(Math.floor(a%3600/60)).padStart(2,"0")+"m":Math.floor(a/86400)+"d"+Math.floor(a%86400/3600)+"h";return s>=0?t+" ago":"in "+t}
function tick(){var now=base+(performance.now()-t0);document.querySelectorAll("time[datetime]").forEach(function(el){el.textContent=fmt((now-Date.parse(el.getAttribute("datetime")))/1000)})}
tick();setInterval(tick,5000);document.documentElement.setAttribute("data-js","ran")})();</script>`;
}
