/**
 * The CPU-heavy half of writing a row group, run in a worker thread (parquet-worker.ts) or in-process: compresses each
 * uncompressed page body of a row group and computes min/max statistics of the integer-like and string columns from their
 * PLAIN values (strings: byte-stats.ts). Input and output are one ArrayBuffer each, transferred (not copied) across the thread boundary.
 * Codecs: zstd level 1 (node:zlib's native zstd on Node >= 22.15, else zstd compiled to wasm, @bokuweb/zstd-wasm), gzip
 * level 1 (node:zlib, native), snappy (snappyjs, pure JS) or none.
 */
import zlib, { gzipSync } from "node:zlib";
// Static imports (both packages are CommonJS), so that esbuild bundles them. zstd-wasm's init() reads zstd.wasm from
// its own directory: in a bundle, from next to the bundle (see README, "Shipping").
import zstdWasm from "@bokuweb/zstd-wasm";
import snappyjs from "snappyjs";
import { byteArrayBounds } from "./byte-stats.ts";
import { deltaBinaryPacked } from "./delta-binary.ts";
import type { Compression } from "./encoder.ts";
import type { StatsOrder } from "./parquet-format.ts";

export interface PageSpec {
  /** The page body in the job buffer. */
  off: number;
  len: number;
  /**
   * Statistics over the PLAIN values at [valuesOff, valuesOff + valuesLen): fixed-width ones 8-byte aligned, or BYTE_ARRAY
   * ("bytes"; for a dictionary-encoded column its dictionary page); null = none.
   */
  stats: StatsOrder;
  valuesOff: number;
  valuesLen: number;
  /** The PLAIN INT32 (4) or INT64 (8) values of a data page, to be tried as DELTA_BINARY_PACKED; 0 = as they are. */
  delta: 0 | 4 | 8;
}

export interface PageJob {
  id: number;
  codec: Compression;
  buf: ArrayBuffer;
  pages: PageSpec[];
}

export interface PageOut {
  off: number;
  len: number;
  min: Uint8Array | null;
  max: Uint8Array | null;
  /** False when min/max are truncated bounds (long strings). */
  exact: { min: boolean; max: boolean };
  /** The body went out DELTA_BINARY_PACKED (delta-binary.ts), `rawLen` bytes before compression; else as given. */
  delta: boolean;
  rawLen: number;
}

export interface PageResult {
  id: number;
  buf: ArrayBuffer;
  pages: PageOut[];
}

type Codec = (b: Uint8Array) => Uint8Array;

let zstd: Promise<Codec> | null = null;

// Native zstd (about 3x the wasm build's rate here) where Node has it. Node's docs still mark it experimental, so the
// wasm codec stays as the fallback until every node is sure to run Node 24; both write standard zstd frames.
const ZSTD_LEVEL = { params: { [zlib.constants.ZSTD_c_compressionLevel ?? 100]: 1 } };
const nativeZstd: Codec | null =
  typeof zlib.zstdCompressSync === "function" && process.env.SPOTFERRY_ZSTD !== "wasm" ? (b) => zlib.zstdCompressSync(b, ZSTD_LEVEL) : null;

/** Which zstd implementation this process compresses with ("native" or "wasm"), for reports and benchmarks. */
export const zstdImplementation = nativeZstd ? "native" : "wasm";

function codecFor(c: Compression): Promise<Codec> | Codec {
  switch (c) {
    case "zstd":
      // Level 1: the fastest standard level; on call-log pages it is as fast as gzip-1 and ~30 % smaller.
      if (nativeZstd) return nativeZstd;
      zstd ??= zstdWasm.init().then(() => (b: Uint8Array) => zstdWasm.compress(b, 1));
      return zstd;
    case "gzip":
      return (b) => gzipSync(b, { level: 1 });
    case "snappy":
      return (b) => snappyjs.compress(b);
    default:
      return (b) => b;
  }
}

const EXACT = { min: true, max: true } as const;

/** min/max of a page's PLAIN values in the column's sort order, as PLAIN bytes (strings: without the length). */
function pageStats(buf: ArrayBuffer, p: PageSpec): Pick<PageOut, "min" | "max" | "exact"> {
  if (p.stats === "bytes") {
    const b = p.valuesLen > 0 ? byteArrayBounds(new Uint8Array(buf, p.valuesOff, p.valuesLen)) : null;
    return b ? { min: b.min, max: b.max, exact: { min: b.minExact, max: b.maxExact } } : { min: null, max: null, exact: EXACT };
  }
  const mm = minMax(buf, p.valuesOff, p.valuesLen, p.stats);
  return { min: mm?.[0] ?? null, max: mm?.[1] ?? null, exact: EXACT };
}

/** min/max of PLAIN fixed-width values in the column's sort order, as PLAIN bytes. */
function minMax(buf: ArrayBuffer, off: number, len: number, order: StatsOrder): [Uint8Array, Uint8Array] | null {
  if (order === null || order === "bytes" || len === 0) return null;
  const bytes = new Uint8Array(buf, off, len);
  if (order === "i32" || order === "u32") {
    const v = order === "i32" ? new Int32Array(buf, off, len / 4) : new Uint32Array(buf, off, len / 4);
    let lo = 0;
    let hi = 0;
    for (let i = 1; i < v.length; i++) {
      const x = v[i] as number;
      if (x < (v[lo] as number)) lo = i;
      else if (x > (v[hi] as number)) hi = i;
    }
    return [bytes.slice(lo * 4, lo * 4 + 4), bytes.slice(hi * 4, hi * 4 + 4)];
  }
  // 64-bit: compare the high word (signed or unsigned), then the low word unsigned. Inlined: this runs on every value.
  const w = new Uint32Array(buf, off, len / 4);
  const hw = order === "i64" ? new Int32Array(buf, off, len / 4) : w;
  let lo = 0;
  let hi = 0;
  let loH = hw[1] as number;
  let loL = w[0] as number;
  let hiH = loH;
  let hiL = loL;
  for (let i = 1, n = w.length / 2; i < n; i++) {
    const h = hw[i * 2 + 1] as number;
    const l = w[i * 2] as number;
    if (h < loH || (h === loH && l < loL)) {
      lo = i;
      loH = h;
      loL = l;
    } else if (h > hiH || (h === hiH && l > hiL)) {
      hi = i;
      hiH = h;
      hiL = l;
    }
  }
  return [bytes.slice(lo * 8, lo * 8 + 8), bytes.slice(hi * 8, hi * 8 + 8)];
}

let bodyScratch = new Uint8Array(0);

/**
 * The page's definition levels (as laid out) followed by its values DELTA_BINARY_PACKED, or null to keep PLAIN. A view
 * of a scratch buffer (no garbage per page), valid until the next call.
 */
function deltaBody(buf: ArrayBuffer, p: PageSpec): Uint8Array | null {
  const packed = deltaBinaryPacked(new Uint8Array(buf, p.valuesOff, p.valuesLen), p.delta as 4 | 8);
  if (!packed) return null;
  const defLen = p.len - p.valuesLen;
  if (bodyScratch.length < p.len) bodyScratch = new Uint8Array(p.len + (p.len >> 2));
  bodyScratch.set(new Uint8Array(buf, p.off, defLen), 0);
  bodyScratch.set(packed, defLen);
  return bodyScratch.subarray(0, defLen + packed.length);
}

export async function compressPages(job: PageJob): Promise<PageResult> {
  const c = codecFor(job.codec);
  const codec = c instanceof Promise ? await c : c;
  const parts: Uint8Array[] = [];
  const pages: PageOut[] = [];
  let total = 0;
  for (const p of job.pages) {
    const delta = p.delta ? deltaBody(job.buf, p) : null;
    const body = delta ?? new Uint8Array(job.buf, p.off, p.len);
    const packed = codec(body);
    // Compression "none" hands its input back: a delta body is scratch, overwritten by the next page.
    parts.push(delta && packed === body ? packed.slice() : packed);
    pages.push({ off: total, len: packed.length, ...pageStats(job.buf, p), delta: delta !== null, rawLen: body.length });
    total += packed.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return { id: job.id, buf: out.buffer, pages };
}
