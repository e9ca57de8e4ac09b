/**
 * min/max statistics of PLAIN BYTE_ARRAY values (`len32 + bytes`, one after the other) in unsigned byte order, the
 * order parquet-format's TYPE_ORDER gives UTF8 strings (= code point order, since UTF-8 preserves it). Long bounds are
 * cut to STATS_MAX_BYTES as parquet-mr's truncator does: min becomes a prefix (still <= every value), max a prefix
 * whose last character is incremented (still > every value); both are then flagged inexact. Runs in the worker thread.
 */

/** Longest min/max kept in a column chunk's statistics (parquet-mr truncates column index bounds to 64 bytes). */
export const STATS_MAX_BYTES = 64;

export interface ByteBounds {
  min: Uint8Array;
  max: Uint8Array;
  minExact: boolean;
  maxExact: boolean;
}

/** Unsigned lexicographic comparison of b[a, a + al) and b[c, c + cl). */
function compare(b: Uint8Array, a: number, al: number, c: number, cl: number): number {
  const n = Math.min(al, cl);
  for (let i = 0; i < n; i++) {
    const d = (b[a + i] as number) - (b[c + i] as number);
    if (d !== 0) return d;
  }
  return al - cl;
}

/** Big-endian 32 bits of b[at, at + 4) within a value ending at `end`, zero padded: strict order of keys is byte order. */
function keyAt(b: Uint8Array, at: number, end: number): number {
  if (at + 4 <= end)
    return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;
  let k = 0;
  for (let i = 0; i < 4; i++) k = k * 256 + (at + i < end ? (b[at + i] as number) : 0);
  return k;
}

/**
 * min/max of the PLAIN BYTE_ARRAY values in bytes[0, len); null when there are none (or max cannot be bounded).
 * Every value between min and max shares their common prefix, so a value is checked against that prefix once and then
 * by the 4 bytes after it; only a value at or past a bound gets a full comparison (it runs on every value).
 */
export function byteArrayBounds(bytes: Uint8Array): ByteBounds | null {
  const len = bytes.length;
  if (len < 4) return null;
  let minAt = 4;
  let minLen = lengthAt(bytes, 0);
  let maxAt = minAt;
  let maxLen = minLen;
  let cp = minLen;
  let minKey = keyAt(bytes, minAt + cp, minAt + minLen);
  let maxKey = minKey;
  for (let pos = 4 + minLen; pos < len; ) {
    const l = lengthAt(bytes, pos);
    const at = pos + 4;
    pos = at + l;
    let i = 0;
    const n = Math.min(cp, l);
    while (i < n && bytes[at + i] === bytes[minAt + i]) i++;
    if (i === cp) {
      const k = keyAt(bytes, at + cp, at + l);
      if (k > minKey && k < maxKey) continue;
    }
    if (compare(bytes, at, l, minAt, minLen) < 0) {
      minAt = at;
      minLen = l;
    } else if (compare(bytes, at, l, maxAt, maxLen) > 0) {
      maxAt = at;
      maxLen = l;
    } else continue;
    cp = 0;
    const m = Math.min(minLen, maxLen);
    while (cp < m && bytes[minAt + cp] === bytes[maxAt + cp]) cp++;
    minKey = keyAt(bytes, minAt + cp, minAt + minLen);
    maxKey = keyAt(bytes, maxAt + cp, maxAt + maxLen);
  }
  const max = truncatedMax(bytes.subarray(maxAt, maxAt + maxLen));
  if (max === null) return null;
  return {
    min: bytes.slice(minAt, minAt + utf8Prefix(bytes.subarray(minAt, minAt + minLen), STATS_MAX_BYTES)),
    max: max.bytes,
    minExact: minLen <= STATS_MAX_BYTES,
    maxExact: max.exact,
  };
}

function lengthAt(b: Uint8Array, p: number): number {
  return ((b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 24)) >>> 0;
}

/** The longest prefix of `v` of at most `limit` bytes that ends on a UTF-8 character boundary. */
export function utf8Prefix(v: Uint8Array, limit: number): number {
  if (v.length <= limit) return v.length;
  let n = limit;
  // Back off continuation bytes (10xxxxxx) so the cut falls before a character's first byte.
  while (n > 0 && ((v[n] as number) & 0xc0) === 0x80) n--;
  return n;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * The value itself when short; else the shortest-kept prefix with its last character incremented, dropping characters
 * that cannot be incremented (U+10FFFF). null when none can (then the chunk gets no min/max, only null_count).
 */
export function truncatedMax(v: Uint8Array): { bytes: Uint8Array; exact: boolean } | null {
  if (v.length <= STATS_MAX_BYTES) return { bytes: v.slice(), exact: true };
  const chars = Array.from(decoder.decode(v.subarray(0, utf8Prefix(v, STATS_MAX_BYTES))));
  while (chars.length > 0) {
    const cp = (chars.pop() as string).codePointAt(0) as number;
    if (cp === 0xfffd || cp >= 0x10ffff) continue; // U+FFFD may stand for invalid bytes: not a safe bound, drop it
    const next = cp === 0xd7ff ? 0xe000 : cp + 1; // skip the surrogate range
    return { bytes: encoder.encode(chars.join("") + String.fromCodePoint(next)), exact: false };
  }
  return null;
}
