/**
 * A run's Hive-style directory value, `run=2026-11-21T10-05-07`: UTC to the second, always the same width, so a plain
 * listing of `<prefix><name>/` shows the runs in run order (colons are awkward in S3 keys and Hive paths, hence `-`).
 *
 * Releases before issue 17 wrote minutes (`2026-11-21T10-05`) and gave a second run in the same minute seconds, which
 * listed before the first one. Those names stay as they are and are still read: a new name is always later than the
 * previous run's, taking the next second after it (or the next minute after an old minute name, since any name with
 * seconds in that minute would list before it).
 */

const PATTERN = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})(?:-(\d{2}))?$/;

/** "2026-11-21T10-05-07" for an instant (its second). */
export const runDirValue = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replaceAll(":", "-");

/** The first instant a name after `value` may carry: the next second, or the next minute for an old minute name; null if unreadable. */
export function runDirNextFree(value: string): number | null {
  const m = PATTERN.exec(value);
  if (!m) return null;
  const start = Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4] ?? "00"}Z`);
  if (Number.isNaN(start)) return null;
  return start + (m[4] === undefined ? 60_000 : 1000);
}

/** The directory value of a new run at `nowMs`, after the previous run's (`previous`, either form, or null for the first run). */
export function nextRunDir(nowMs: number, previous: string | null): string {
  const free = previous === null ? null : runDirNextFree(previous);
  return runDirValue(free === null ? nowMs : Math.max(nowMs, free));
}
