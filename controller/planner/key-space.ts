import type { KeyColumn } from "../../config/records.ts";

/**
 * The leading key column as integers, so the estimating planner can bisect its value space (quantiles.ts). The map
 * is exact and order-preserving on the values the column can hold: integers as themselves, DECIMAL(p,s) as the
 * unscaled integer, DATE as days and DATETIME(fsp) as units of 10^-fsp s since 1970. Texts are the server's own
 * (what selectKey reads) and probes go back as texts bound through the column's typed placeholder.
 *
 * No codec (null) for strings and binary (the order is the collation's, which JS cannot reproduce), TIME, and
 * TIMESTAMP (its text is in the session's time zone, not monotonic across a DST change): those keys are walked.
 */
export interface KeySpaceCodec {
  /** Null for a text outside the map (a zero date): the caller walks instead. */
  toInt(text: string): bigint | null;
  fromInt(n: bigint): string;
}

const fspOf = (sqlType: string) => Number(/\((\d+)\)/.exec(sqlType)?.[1] ?? 0);
const pad = (n: number | bigint, width: number) => String(n).padStart(width, "0");
const floorDiv = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b));
const DAY_S = 86_400n;

export function keySpaceCodec(col: KeyColumn): KeySpaceCodec | null {
  switch (col.type) {
    case "int":
    case "uint":
      return { toInt: (t) => (/^-?\d+$/.test(t) ? BigInt(t) : null), fromInt: (n) => String(n) };
    case "decimal":
      return decimalCodec(Number(/\(\s*\d+\s*,\s*(\d+)\s*\)/.exec(col.sqlType)?.[1] ?? 0));
    case "date":
      return {
        toInt: (t) => {
          const s = utcSeconds(`${t} 00:00:00`);
          return s === null ? null : s / DAY_S;
        },
        fromInt: (n) => formatUtc(n * DAY_S).slice(0, 10),
      };
    case "datetime":
      return col.sqlType.toLowerCase().startsWith("timestamp") ? null : datetimeCodec(fspOf(col.sqlType));
    default:
      return null;
  }
}

function decimalCodec(scale: number): KeySpaceCodec {
  const unit = 10n ** BigInt(scale);
  return {
    toInt: (t) => {
      const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(t);
      if (!m) return null;
      const frac = (m[3] ?? "").padEnd(scale, "0");
      if (frac.length > scale) return null;
      const abs = BigInt(m[2] as string) * unit + BigInt(frac || "0");
      return m[1] ? -abs : abs;
    },
    fromInt: (n) => {
      const abs = n < 0n ? -n : n;
      const whole = abs / unit;
      const frac = scale > 0 ? `.${pad(abs % unit, scale)}` : "";
      return `${n < 0n ? "-" : ""}${whole}${frac}`;
    },
  };
}

function datetimeCodec(fsp: number): KeySpaceCodec {
  const unit = 10n ** BigInt(fsp);
  return {
    toInt: (t) => {
      const [main, frac = ""] = t.split(".");
      const s = utcSeconds(main as string);
      if (s === null || !/^\d*$/.test(frac) || frac.length > fsp) return null;
      return s * unit + BigInt(frac.padEnd(fsp, "0") || "0");
    },
    fromInt: (n) => {
      const s = floorDiv(n, unit);
      return formatUtc(s) + (fsp > 0 ? `.${pad(n - s * unit, fsp)}` : "");
    },
  };
}

/** Seconds since 1970 of 'YYYY-MM-DD HH:MM:SS' read as UTC; null for anything that is not a real date (zero dates). */
function utcSeconds(t: string): bigint | null {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(t);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (h > 23 || mi > 59 || s > 59) return null;
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
  return BigInt(date.getTime() / 1000);
}

function formatUtc(seconds: bigint): string {
  const d = new Date(Number(seconds) * 1000);
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
  return `${date} ${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
}
