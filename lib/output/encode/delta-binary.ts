/**
 * DELTA_BINARY_PACKED (parquet-format Encodings.md) of a page's PLAIN INT32 or INT64 values, in the worker thread.
 * Sorted keys and time columns read in key order have small, steady differences: a dense id packs to 0 bits a value,
 * a timestamp that moves by about the same step to a few, where PLAIN left zstd 8 bytes a value it could barely
 * shrink. Blocks of 128 deltas in 4 miniblocks of 32 (what parquet-mr and Arrow write).
 *
 * A page is encoded this way only when it pays for certain: every miniblock's width at most half the physical width,
 * no difference that overflows the physical type (readers that do not wrap would get it wrong), and a result smaller
 * than PLAIN (a page of a few values may not be: a block's header and a whole miniblock), else null and the page stays
 * PLAIN. The half-width bound also keeps the packing in 32-bit arithmetic.
 */

const BLOCK = 128;
const MINIBLOCKS = 4;
const PER_MINI = BLOCK / MINIBLOCKS;

// Scratch, reused: the worker encodes one page at a time, synchronously.
const deltas = new Uint32Array(BLOCK);
const lo = new Uint32Array(BLOCK);
const hi = new Int32Array(BLOCK);
let scratch = new Uint8Array(0);

/**
 * A page's values re-encoded, or null when PLAIN stays (see above). `values` is 4- or 8-byte aligned in its buffer. The
 * result is a view of a scratch buffer, valid until the next call.
 */
export function deltaBinaryPacked(values: Uint8Array, width: 4 | 8): Uint8Array | null {
  const n = values.length / width;
  if (n < 2) return null;
  const words = new Int32Array(values.buffer, values.byteOffset, values.length / 4);
  // Header, then per block: min delta (<= 10 bytes), 4 widths, 128 deltas at <= half the width.
  const bound = 32 + Math.ceil((n - 1) / BLOCK) * (14 + BLOCK * (width / 2));
  if (scratch.length < bound) scratch = new Uint8Array(bound + (bound >> 2));
  const out = scratch;
  let at = uleb(out, 0, BLOCK);
  at = uleb(out, at, MINIBLOCKS);
  at = uleb(out, at, n);
  at = width === 4 ? zigzag32(out, at, words[0] as number) : zigzag64(out, at, words[1] as number, words[0] as number);
  for (let from = 1; from < n; from += BLOCK) {
    const count = Math.min(BLOCK, n - from);
    const next = width === 4 ? block32(words, from, count, deltas, out, at) : block64(words, from, count, deltas, out, at);
    if (next < 0) return null;
    at = next;
  }
  return at < values.length ? out.subarray(0, at) : null;
}

/** One block of INT32 deltas from value `from`: min delta, widths, miniblocks; -1 when the page should stay PLAIN. */
function block32(v: Int32Array, from: number, count: number, r: Uint32Array, out: Uint8Array, at: number): number {
  let min = Infinity;
  for (let j = 0; j < count; j++) {
    // In doubles, exact: a difference outside INT32 would wrap.
    const d = (v[from + j] as number) - (v[from + j - 1] as number);
    if (d > 0x7fffffff || d < -0x80000000) return -1;
    r[j] = d - -0x80000000; // biased, so the block's minimum can be taken off below without a second pass of doubles
    if (d < min) min = d;
  }
  const bias = min - -0x80000000;
  for (let j = 0; j < count; j++) {
    const x = (r[j] as number) - bias;
    if (x >= 0x10000) return -1;
    r[j] = x;
  }
  at = zigzag32(out, at, min);
  return miniblocks(r, count, out, at);
}

/** One block of INT64 deltas (words lo, hi): the same, with the subtraction done on the two 32-bit halves. */
function block64(v: Int32Array, from: number, count: number, r: Uint32Array, out: Uint8Array, at: number): number {
  let mLo = 0;
  let mHi = 0x7fffffff;
  let mAny = false;
  for (let j = 0, k = from * 2; j < count; j++, k += 2) {
    const aLo = (v[k] as number) >>> 0;
    const aHi = v[k + 1] as number;
    const bLo = (v[k - 2] as number) >>> 0;
    const bHi = v[k - 1] as number;
    const dLo = (aLo - bLo) >>> 0;
    const dHi = (aHi - bHi - (aLo < bLo ? 1 : 0)) | 0;
    // Signed overflow of a - b: operands of different signs and a result whose sign is not a's.
    if ((aHi ^ bHi) < 0 && (dHi ^ aHi) < 0) return -1;
    lo[j] = dLo;
    hi[j] = dHi;
    if (!mAny || dHi < mHi || (dHi === mHi && dLo < mLo)) {
      mLo = dLo;
      mHi = dHi;
      mAny = true;
    }
  }
  for (let j = 0; j < count; j++) {
    // d - min, known >= 0: it fits 32 bits exactly when the high words agree (after the low word's borrow).
    const l = lo[j] as number;
    if ((hi[j] as number) - mHi - (l < mLo ? 1 : 0) !== 0) return -1;
    r[j] = (l - mLo) >>> 0;
  }
  at = zigzag64(out, at, mHi, mLo);
  return miniblocks(r, count, out, at);
}

/** The block's 4 widths, then its miniblocks bit-packed LSB first (the last one padded to 32 values, unused ones absent). */
function miniblocks(r: Uint32Array, count: number, out: Uint8Array, at: number): number {
  const used = Math.ceil(count / PER_MINI);
  const widthsAt = at;
  at += MINIBLOCKS;
  for (let m = 0; m < MINIBLOCKS; m++) {
    if (m >= used) {
      out[widthsAt + m] = 0;
      continue;
    }
    const first = m * PER_MINI;
    const end = Math.min(count, first + PER_MINI);
    let or = 0;
    for (let j = first; j < end; j++) or |= r[j] as number;
    for (let j = end; j < first + PER_MINI; j++) r[j] = 0; // the last miniblock's padding
    const w = or === 0 ? 0 : 32 - Math.clz32(or);
    out[widthsAt + m] = w;
    if (w > 0) at = pack32(r, first, w, out, at);
  }
  return at;
}

/** 32 values of `w` bits (1..32) from r[first], LSB first: exactly w 32-bit words, written a byte at a time. */
function pack32(r: Uint32Array, first: number, w: number, out: Uint8Array, at: number): number {
  let cur = 0;
  let bits = 0;
  for (let j = first; j < first + PER_MINI; j++) {
    const x = r[j] as number;
    cur |= x << bits;
    bits += w;
    if (bits >= 32) {
      out[at] = cur;
      out[at + 1] = cur >>> 8;
      out[at + 2] = cur >>> 16;
      out[at + 3] = cur >>> 24;
      at += 4;
      bits -= 32;
      // The value's bits that did not fit (x >>> 32 would be x itself, so none is a case of its own).
      cur = bits === 0 ? 0 : x >>> (w - bits);
    }
  }
  return at;
}

function uleb(out: Uint8Array, at: number, n: number): number {
  while (n >= 128) {
    out[at++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

function zigzag32(out: Uint8Array, at: number, x: number): number {
  return uleb(out, at, x >= 0 ? x * 2 : -x * 2 - 1);
}

/** zigzag ULEB128 of the signed 64-bit value hi:lo; BigInt, since it runs once per block. */
function zigzag64(out: Uint8Array, at: number, hi: number, lo: number): number {
  const x = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo >>> 0));
  let z = BigInt.asUintN(64, (x << 1n) ^ (x >> 63n));
  while (z >= 128n) {
    out[at++] = Number(z & 127n) | 128;
    z >>= 7n;
  }
  out[at++] = Number(z);
  return at;
}
