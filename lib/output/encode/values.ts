/**
 * Exact conversions from the values mysql2 delivers (with MYSQL_SOURCE_OPTIONS) to the fixed-width words the columnar
 * encoders store. 64-bit and wider values are written as little-endian 32-bit words into an Int32Array, so no value ever
 * passes through a rounded JS number and the hot path does not allocate BigInts for values below 2^53.
 */

const TWO32 = 4294967296;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Writes the exact integer `n` (|n| <= 2^53) as 64 bits at words[k], words[k + 1]. */
export function putSafeInt64(words: Int32Array, k: number, n: number): void {
  const hi = Math.floor(n / TWO32);
  words[k] = n - hi * TWO32;
  words[k + 1] = hi;
}

/** Writes any bigint in [-2^(32*width-1), 2^(32*width)) as `width` 32-bit words (two's complement). */
export function putBigInt(words: Int32Array, k: number, b: bigint, width: number): void {
  let v = BigInt.asUintN(32 * width, b);
  for (let j = 0; j < width; j++) {
    words[k + j] = Number(v & 0xffffffffn);
    v >>= 32n;
  }
}

/**
 * Writes a BIGINT value (number, decimal string or bigint) as 64 bits. `unsigned` selects the range check.
 * Throws on text that is not an integer or is out of range, naming the value.
 */
export function putInt64(words: Int32Array, k: number, v: unknown, unsigned: boolean): void {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new Error(`not an exact integer: ${v}`);
    putSafeInt64(words, k, v);
    return;
  }
  const s = typeof v === "string" ? v : typeof v === "bigint" ? null : String(v);
  if (s !== null && s.length <= 15) {
    const n = Number(s);
    if (!Number.isInteger(n) || s.length === 0) throw new Error(`not an integer: ${JSON.stringify(s)}`);
    putSafeInt64(words, k, n);
    return;
  }
  let b: bigint;
  try {
    b = typeof v === "bigint" ? v : BigInt(s as string);
  } catch (cause) {
    throw new Error(`not an integer: ${JSON.stringify(s)}`, { cause });
  }
  const ok = unsigned ? b >= 0n && b < 1n << 64n : b >= -(1n << 63n) && b < 1n << 63n;
  if (!ok) throw new Error(`${b} is out of range for ${unsigned ? "BIGINT UNSIGNED" : "BIGINT"}`);
  putBigInt(words, k, b, 2);
}

const zeros = "000000000000000000000000000000000000000000000000000000000000000000";

/**
 * The unscaled integer of a DECIMAL text at `scale`: "-12.3400" at scale 4 -> -123400. Returns a number when it is a
 * safe integer, otherwise a bigint. Throws when the text has more fraction digits than the scale (that would round).
 */
export function decimalUnscaled(s: string, scale: number): number | bigint {
  const quick = s.length <= 16 ? smallDecimal(s, scale) : null;
  if (quick !== null) return quick;
  const dot = s.indexOf(".");
  let digits: string;
  if (dot < 0) {
    digits = scale === 0 ? s : s + zeros.slice(0, scale);
  } else {
    const frac = s.length - dot - 1;
    if (frac > scale) {
      // Only zeros beyond the scale are harmless.
      for (let i = dot + 1 + scale; i < s.length; i++) {
        if (s.charCodeAt(i) !== 48) throw new Error(`DECIMAL ${s} has more than ${scale} fraction digits`);
      }
      digits = s.slice(0, dot) + s.slice(dot + 1, dot + 1 + scale);
    } else {
      digits = s.slice(0, dot) + s.slice(dot + 1) + zeros.slice(0, scale - frac);
    }
  }
  if (digits.length <= 16) {
    const n = Number(digits);
    if (Number.isSafeInteger(n)) return n;
    if (Number.isNaN(n)) throw new Error(`not a DECIMAL: ${JSON.stringify(s)}`);
  }
  try {
    return BigInt(digits);
  } catch (cause) {
    throw new Error(`not a DECIMAL: ${JSON.stringify(s)}`, { cause });
  }
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/** Bytes for the string forms of the parsers below: they read wire bytes, and a string is first written here. */
let scratch = Buffer.allocUnsafe(64);
function latin1(s: string): Buffer {
  if (s.length > scratch.length) scratch = Buffer.allocUnsafe(s.length * 2);
  scratch.write(s, 0, "latin1");
  return scratch;
}

function smallDecimal(s: string, scale: number): number | null {
  return smallDecimalBytes(latin1(s), 0, s.length, scale);
}

/**
 * The common case in one pass without allocating: "[-]digits[.digits]" whose unscaled value has at most 15 digits (exact
 * in a double). null sends anything else (more digits, more fraction digits than the scale, odd text) to the general path.
 */
function smallDecimalBytes(b: Uint8Array, at: number, len: number, scale: number): number | null {
  const end = at + len;
  let i = b[at] === 45 ? at + 1 : at;
  const neg = i !== at;
  let n = 0;
  let digits = 0;
  let frac = -1;
  for (; i < end; i++) {
    const c = b[i] as number;
    if (c === 46 && frac < 0) {
      frac = 0;
      continue;
    }
    const d = c - 48;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
    digits++;
    if (frac >= 0) frac++;
  }
  if (frac < 0) frac = 0;
  if (digits === 0 || frac > scale || digits + scale - frac > 15) return null;
  n *= POW10[scale - frac] as number;
  return neg ? -n : n;
}

/** Writes a DECIMAL text as a two's complement integer of `width` 32-bit words (4 = Decimal128, 8 = Decimal256). */
export function putDecimal(words: Int32Array, k: number, v: unknown, scale: number, width: number): void {
  putUnscaled(words, k, decimalUnscaled(typeof v === "string" ? v : String(v), scale), width);
}

/** putDecimal of the DECIMAL text at b[at, at + len). */
export function putDecimalBytes(words: Int32Array, k: number, b: Buffer, at: number, len: number, scale: number, width: number): void {
  const quick = len <= 16 ? smallDecimalBytes(b, at, len, scale) : null;
  putUnscaled(words, k, quick ?? decimalUnscaled(b.toString("latin1", at, at + len), scale), width);
}

function putUnscaled(words: Int32Array, k: number, u: number | bigint, width: number): void {
  if (typeof u === "number") {
    putSafeInt64(words, k, u);
    const fill = u < 0 ? -1 : 0;
    for (let j = 2; j < width; j++) words[k + j] = fill;
  } else {
    putBigInt(words, k, u, width);
  }
}

/** The integer written as b[at, at + len) when it is "[-]digits" of at most 15 digits (exact in a double), else null. */
export function smallIntBytes(b: Uint8Array, at: number, len: number): number | null {
  const end = at + len;
  let i = b[at] === 45 ? at + 1 : at;
  const neg = i !== at;
  if (end - i > 15 || end === i) return null;
  let n = 0;
  for (; i < end; i++) {
    const d = (b[i] as number) - 48;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  return neg ? -n : n;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const mp = m > 2 ? m - 3 : m + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function d2(b: Uint8Array, i: number): number {
  return ((b[i] as number) - 48) * 10 + (b[i + 1] as number) - 48;
}

function badDate(b: Buffer, at: number, len: number): Error {
  return new Error(`not a MySQL date/time text: ${JSON.stringify(b.toString("latin1", at, at + len))}`);
}

/**
 * Days since the epoch of "YYYY-MM-DD" (or the date part of a DATETIME text), or -1e9 for a zero or partly zero date
 * ("0000-00-00", "2020-00-15"), which MySQL allows outside strict mode and which the encoders write as NULL.
 */
export const ZERO_DATE = -1e9;
export function parseDateDays(s: string): number {
  return parseDateDaysBytes(latin1(s), 0, s.length);
}

/** parseDateDays of the text at b[at, at + len). */
export function parseDateDaysBytes(b: Buffer, at: number, len: number): number {
  if (len < 10 || b[at + 4] !== 45 || b[at + 7] !== 45) throw badDate(b, at, len);
  const y = d2(b, at) * 100 + d2(b, at + 2);
  const m = d2(b, at + 5);
  const d = d2(b, at + 8);
  if (y === 0 || m === 0 || d === 0) return ZERO_DATE;
  if (!(m <= 12 && d <= 31 && y > 0 && y <= 9999)) throw badDate(b, at, len);
  // Neighbouring rows mostly share their date: the last one's days are reused.
  const key = (y * 16 + m) * 32 + d;
  if (key !== lastDateKey) {
    lastDateKey = key;
    lastDateDays = daysFromCivil(y, m, d);
  }
  return lastDateDays;
}
let lastDateKey = -1;
let lastDateDays = 0;

/**
 * Writes microseconds since 1970-01-01T00:00:00 of "YYYY-MM-DD HH:MM:SS[.ffffff]" as 64 bits at words[k]. Returns false
 * (writing nothing) for a zero date. The text is read as written: DATETIME is zone-less, TIMESTAMP arrives in the session
 * zone, which the source sets to UTC.
 */
export function putDateTimeMicros(words: Int32Array, k: number, s: string): boolean {
  return putDateTimeMicrosBytes(words, k, latin1(s), 0, s.length);
}

/** putDateTimeMicros of the text at b[at, at + len). */
export function putDateTimeMicrosBytes(words: Int32Array, k: number, b: Buffer, at: number, len: number): boolean {
  const days = parseDateDaysBytes(b, at, len);
  if (days === ZERO_DATE) return false;
  let secs = days * 86400;
  let micros = 0;
  if (len >= 19) {
    if (b[at + 13] !== 58 || b[at + 16] !== 58) throw badDate(b, at, len);
    secs += d2(b, at + 11) * 3600 + d2(b, at + 14) * 60 + d2(b, at + 17);
    if (len > 20 && b[at + 19] === 46) {
      let scale = 100000;
      for (let i = 20; i < len && i < 26; i++) {
        micros += ((b[at + i] as number) - 48) * scale;
        scale /= 10;
      }
    }
  }
  // Years 1685..2255 stay below 2^53 microseconds: one exact product.
  const total = secs * 1_000_000 + micros;
  if (total <= MAX_SAFE && total >= -MAX_SAFE) {
    putSafeInt64(words, k, total);
    return true;
  }
  // Otherwise secs * 1e6 + micros can exceed 2^53: split secs = hi16 * 2^16 + lo16 so each product stays exact.
  const hi16 = Math.floor(secs / 65536);
  const lo16 = secs - hi16 * 65536;
  const x = lo16 * 1_000_000 + micros; // < 2^37
  const y = hi16 * 1_000_000; // |y| < 2^42
  const yHi = Math.floor(y / 65536);
  const low = (y - yHi * 65536) * 65536 + (x % TWO32); // < 2^33
  const carry = Math.floor(low / TWO32);
  words[k] = low - carry * TWO32;
  words[k + 1] = yHi + Math.floor(x / TWO32) + carry;
  return true;
}

/** BIT(n) as delivered by mysql2 (a big-endian Buffer) to a number (n <= 32) or bigint. */
export function bitValue(v: unknown): number | bigint {
  if (typeof v === "number" || typeof v === "bigint") return v;
  if (!(v instanceof Uint8Array)) throw new Error(`BIT value is not bytes: ${typeof v}`);
  if (v.length <= 4) {
    let n = 0;
    for (let i = 0; i < v.length; i++) n = n * 256 + (v[i] as number);
    return n;
  }
  let b = 0n;
  for (let i = 0; i < v.length; i++) b = (b << 8n) | BigInt(v[i] as number);
  return b;
}
