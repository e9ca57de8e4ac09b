import { z } from "zod";

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

const DAY = 86400;
const GiB = 1024 ** 3;

/** "90s", "15m", "6h", "2d", "250ms" or a bare number of seconds, in seconds; null when it is none of these. */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!m) return null;
  return Number(m[1]) * (DURATION_UNITS[(m[2] ?? "s").toLowerCase()] ?? 1);
}

/** "64MiB", "1GB", "512" in bytes; null when it is none of these. */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$/i.exec(text);
  if (!m) return null;
  return Math.round(Number(m[1]) * (SIZE_UNITS[(m[2] ?? "b").toLowerCase()] ?? 1));
}

/** Seconds as text for messages: 90 -> "90s", 604800 -> "7d". */
export function formatSeconds(s: number): string {
  if (s >= DAY && s % DAY === 0) return `${s / DAY}d`;
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600}h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60}m`;
  return s < 1 ? `${Math.round(s * 1000)}ms` : `${s}s`;
}

/** Bytes as text for messages: 5 GiB -> "5GiB". */
export function formatBytes(b: number): string {
  for (const [unit, size] of [
    ["GiB", GiB],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const)
    if (b >= size && b % size === 0) return `${b / size}${unit}`;
  return `${b}B`;
}

/**
 * A bounded duration in seconds, written as a number of seconds or "90s", "15m", "6h", "2d". Zero, negative, NaN,
 * infinite and absurd values are refused: a lease of 0 or a backoff of 10 years is a typo, never a wish. `min: 0`
 * is for delays where none is meaningful (a retry backoff, a safety lag).
 */
export function duration(bounds: { min?: number; max: number }) {
  const min = bounds.min ?? 0.001;
  const range = `between ${formatSeconds(min)} and ${formatSeconds(bounds.max)}`;
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    const seconds = typeof value === "number" ? value : parseDuration(value);
    if (seconds === null) {
      ctx.addIssue({ code: "custom", message: `expected a duration like "90s", "15m" or "6h", got "${value}"` });
      return z.NEVER;
    }
    if (!Number.isFinite(seconds) || seconds < min || seconds > bounds.max) {
      ctx.addIssue({ code: "custom", message: `expected a duration ${range}, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return seconds;
  });
}

/** Any duration of a setting: positive, at most 30 days. */
export const durationSeconds = duration({ max: 30 * DAY });
/** A delay that may be zero (backoff, safety lag): at most 7 days. */
export const delaySeconds = duration({ min: 0, max: 7 * DAY });

/** Bytes, written as a whole number or "64MiB", "1GB"; bounded like `duration`. */
export function size(bounds: { min: number; max: number }) {
  const range = `between ${formatBytes(bounds.min)} and ${formatBytes(bounds.max)}`;
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    const bytes = typeof value === "number" ? value : parseSize(value);
    if (bytes === null) {
      ctx.addIssue({ code: "custom", message: `expected a size like "64MiB" or "1GB", got "${value}"` });
      return z.NEVER;
    }
    if (!Number.isInteger(bytes) || bytes < bounds.min || bytes > bounds.max) {
      ctx.addIssue({ code: "custom", message: `expected a size ${range}, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return bytes;
  });
}

/** A chunk's byte limit: S3 takes a single PUT up to 5 GiB, and a chunk below 1 KiB is a typo. */
export const sizeBytes = size({ min: 1024, max: 5 * GiB });

/** A whole number within [min, max]. */
export const count = (min: number, max: number) => z.number().int().min(min).max(max);

/** A MySQL identifier as written by the user; it is checked against information_schema before it reaches SQL. */
export const identifier = z
  .string()
  .min(1)
  .max(64)
  .refine((s) => !s.includes("`") && !s.includes(String.fromCharCode(0)), "must not contain backticks or NUL characters");

/** Control characters (C0, DEL, C1) never belong in an object key. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Why `text` cannot be (a part of) an S3 key, or null. `maxBytes`: its UTF-8 length limit, leaving room for what
 * follows it (S3 keys are at most 1024 bytes).
 */
export function keyPartProblem(text: string, maxBytes: number): string | null {
  if (CONTROL.test(text)) return "must not contain control characters (NUL, CR, LF, ...)";
  if (text.startsWith("/")) return "must not start with /";
  const segments = text.split("/");
  if (segments.some((s) => s === "." || s === "..")) return 'must not contain a "." or ".." segment';
  if (segments.slice(0, -1).some((s) => s === "")) return 'must not contain an empty segment ("//")';
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > maxBytes) return `must be at most ${maxBytes} bytes (S3 keys are at most 1024; the object names follow it), got ${bytes}`;
  return null;
}

/** A prefix is at most 512 bytes: the export id (<= 128) and the chunk names (~60) follow it within S3's 1024. */
export const PREFIX_MAX_BYTES = 512;
/** Export ids: safe characters only, as they appear in object keys, item keys and log paths. */
export const EXPORT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Why `id` cannot be an export id, or null. */
export function exportIdProblem(id: string): string | null {
  if (!EXPORT_ID.test(id) || id.includes("..")) return "must be 1-128 of A-Z a-z 0-9 . _ - (starting with a letter or digit, no ..)";
  return null;
}
