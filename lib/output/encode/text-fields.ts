/**
 * The byte writers of text-wire.ts: one value's wire text as its CSV field or JSON token. Each takes the output buffer
 * and position and returns the new position; the caller made room first (WireTextRenderer reserves each row's worst
 * case once), so no write checks bounds or calls out per value.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX = "0123456789abcdef";
/** JSON.stringify's short escapes, by byte (0: \u00XX). */
const SHORT_ESCAPE = new Uint8Array(0x60);
for (const [c, e] of [
  [0x08, 0x62],
  [0x09, 0x74],
  [0x0a, 0x6e],
  [0x0c, 0x66],
  [0x0d, 0x72],
  [0x22, 0x22],
  [0x5c, 0x5c],
])
  SHORT_ESCAPE[c as number] = e as number;
const CSV_SPECIAL = /[",\n\r]/;
/** 1 for the bytes that make a CSV field quoted. */
export const CSV_SPECIAL_BYTE = new Uint8Array(256);
for (const c of [QUOTE, 0x2c, 0x0a, 0x0d]) CSV_SPECIAL_BYTE[c] = 1;
/** A driver value's text as an RFC 4180 field. */
export function csvField(s: string): string {
  if (s.length === 0) return '""';
  return CSV_SPECIAL.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function copyBytes(dst: Buffer, p: number, src: Buffer, at: number, len: number): number {
  // Most values are a few bytes: a loop beats Buffer#copy's call into C++ below a few dozen.
  if (len >= 32) return p + src.copy(dst, p, at, at + len);
  for (let k = at, end = at + len; k < end; k++) dst[p++] = src[k] as number;
  return p;
}

/** CSV: the text as an RFC 4180 field (quoted when it holds a quote, comma or line break; "" when empty). */
export function csvText(dst: Buffer, p: number, b: Buffer, at: number, len: number): number {
  const end = at + len;
  // One pass in the common case: copy while looking; start over quoted at the first special byte.
  let q = p;
  for (let k = at; k < end; k++) {
    const c = b[k] as number;
    if (c === QUOTE || c === 0x2c || c === 0x0a || c === 0x0d) return csvQuoted(dst, p, b, at, len);
    dst[q++] = c;
  }
  if (len > 0) return q;
  dst[q++] = QUOTE;
  dst[q++] = QUOTE;
  return q;
}

function csvQuoted(dst: Buffer, p: number, b: Buffer, at: number, len: number): number {
  dst[p++] = QUOTE;
  for (let k = at, end = at + len; k < end; k++) {
    const c = b[k] as number;
    if (c === QUOTE) dst[p++] = QUOTE;
    dst[p++] = c;
  }
  dst[p++] = QUOTE;
  return p;
}

/** JSON: the UTF-8 text as a JSON string, escaped as JSON.stringify escapes it. */
export function jsonText(dst: Buffer, p: number, b: Buffer, at: number, len: number): number {
  dst[p++] = QUOTE;
  for (let k = at, end = at + len; k < end; k++) {
    const c = b[k] as number;
    if (c >= 0x20 && c !== QUOTE && c !== BACKSLASH) {
      dst[p++] = c;
      continue;
    }
    dst[p++] = BACKSLASH;
    const short = SHORT_ESCAPE[c] as number;
    if (short !== 0) dst[p++] = short;
    else {
      dst[p++] = 0x75; // \u00XX
      dst[p++] = 0x30;
      dst[p++] = 0x30;
      dst[p++] = HEX.charCodeAt(c >> 4);
      dst[p++] = HEX.charCodeAt(c & 15);
    }
  }
  dst[p++] = QUOTE;
  return p;
}

/** Digits as they are, in quotes for JSON (exact 64-bit and DECIMAL values are JSON strings). */
export function digits(dst: Buffer, p: number, b: Buffer, at: number, len: number, json: boolean): number {
  if (json) dst[p++] = QUOTE;
  p = copyBytes(dst, p, b, at, len);
  if (json) dst[p++] = QUOTE;
  return p;
}

/** DATE/DATETIME as MySQL prints them; TIMESTAMP with its "T" and "Z" (it arrives in UTC). */
// Flags rather than an options object: this runs for every date value, and an object per call was measurable garbage.
export function dateText(dst: Buffer, p: number, b: Buffer, at: number, len: number, json: boolean, stamp: boolean): number {
  if (json) dst[p++] = QUOTE;
  if (stamp && len >= 19) {
    p = copyBytes(dst, p, b, at, 10);
    dst[p++] = 0x54;
    p = copyBytes(dst, p, b, at + 11, len - 11);
    dst[p++] = 0x5a;
  } else p = copyBytes(dst, p, b, at, len);
  if (json) dst[p++] = QUOTE;
  return p;
}

/** True when an integer's text is not what String(number) prints: leading zeros (ZEROFILL) or a sign to drop. */
export function paddedInt(b: Buffer, at: number, len: number): boolean {
  const c = b[at];
  return c === 0x2b || (c === 0x30 && len > 1) || (c === 0x2d && len > 2 && b[at + 1] === 0x30);
}

/** FLOAT/DOUBLE as String(number) prints the server's text (its shortest form: "1e20" becomes 100000000000000000000). */
export function floatText(text: string, json: boolean): string {
  const x = Number(text);
  if (json && !Number.isFinite(x)) throw new Error(`not a finite number: ${text}`);
  return String(x);
}
