import type { SourceKey } from "../../config/records.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";

/** Formatting shared by the on-call CLI and the status page; every relative time is taken from an injected `now`. */

/**
 * The CLI's clock: the system clock, or a fixed instant from SPOTFERRY_NOW (ISO-8601). The fixed clock exists so
 * snapshot tests and README samples are byte-for-byte reproducible; it is not meant for operators.
 */
export function cliClock(): Clock {
  const fixed = process.env.SPOTFERRY_NOW;
  if (!fixed) return systemClock;
  const t = Date.parse(fixed);
  if (Number.isNaN(t)) throw new Error(`SPOTFERRY_NOW: expected an ISO-8601 time, got "${fixed}"`);
  return { now: () => t, sleep: systemClock.sleep };
}

export const num = (x: number) => Math.round(x).toLocaleString("en-US");

/** 42s, 7m, 3h12m, 2d4h: coarse enough to read at a glance. */
export function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "-";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${String(s % 60).padStart(2, "0")}s` : ""}`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}

export const secondsSince = (iso: string | null, now: number): number | null => (iso ? (now - Date.parse(iso)) / 1000 : null);

export const ago = (iso: string | null, now: number): string => {
  const s = secondsSince(iso, now);
  if (s === null) return "-";
  return s >= 0 ? `${duration(s)} ago` : `in ${duration(-s)}`;
};

export function rate(rowsPerSec: number | null): string {
  if (rowsPerSec === null) return "-";
  if (rowsPerSec >= 10_000) return `${(rowsPerSec / 1000).toFixed(0)}k`;
  if (rowsPerSec >= 1000) return `${(rowsPerSec / 1000).toFixed(1)}k`;
  return rowsPerSec.toFixed(0);
}

export const pct = (x: number) => `${x.toFixed(1)}%`;

/** `[1]` -> `1`; composite keys in parentheses; an open end named. */
export function key(k: SourceKey | null, open: string): string {
  if (k === null) return open;
  const text = k.map((v) => (v.length > 28 ? `${v.slice(0, 25)}...` : v)).join(", ");
  return k.length === 1 ? text : `(${text})`;
}

/** A text bar of `width` cells for a fraction in [0, 1]. */
export function bar(fraction: number, width: number): string {
  const cells = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `${"#".repeat(cells)}${".".repeat(width - cells)}`;
}
