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

/** Seconds, written as a number of seconds or "90s", "15m", "6h", "2d". */
export const durationSeconds = z.union([z.number().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === "number") return value;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(value);
  if (!m) {
    ctx.addIssue({ code: "custom", message: `expected a duration like "90s", "15m" or "6h", got "${value}"` });
    return z.NEVER;
  }
  return Number(m[1]) * (DURATION_UNITS[m[2]!.toLowerCase()] ?? 1);
});

/** Bytes, written as a number or "64MiB", "1GB". */
export const sizeBytes = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  if (typeof value === "number") return value;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)\s*$/i.exec(value);
  if (!m) {
    ctx.addIssue({ code: "custom", message: `expected a size like "64MiB" or "1GB", got "${value}"` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * (SIZE_UNITS[m[2]!.toLowerCase()] ?? 1));
});

/** A MySQL identifier as written by the user; it is checked against information_schema before it reaches SQL. */
export const identifier = z
  .string()
  .min(1)
  .max(64)
  .refine((s) => !s.includes("`") && !s.includes(String.fromCharCode(0)), "must not contain backticks or NUL characters");
