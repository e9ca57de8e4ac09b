/**
 * The RLE/bit-packing hybrid encoding of Parquet (definition levels, dictionary indices), reduced to what the writer
 * needs: one bit-packed run over a whole page, or one RLE run when a nullable column has no NULL in the page.
 */
import type { ColumnBuilder } from "./column-builders.ts";

/** Unsigned LEB128 into out at `at`; returns the new position. */
function varint(out: Uint8Array, at: number, n: number): number {
  while (n >= 128) {
    out[at++] = (n & 127) | 128;
    n >>>= 7;
  }
  out[at++] = n;
  return at;
}

/**
 * One bit-packed run of the RLE/bit-packing hybrid: header varint((groups << 1) | 1), then `n` values of `width` bits,
 * LSB first, padded to a multiple of 8 values (readers stop at the page's value count). With `prefixWidth` the byte
 * holding the bit width comes first (RLE_DICTIONARY data pages).
 */
export function bitPackedRun(values: Int32Array, n: number, width: number, prefixWidth: boolean): Uint8Array {
  const groups = Math.ceil(n / 8);
  const out = new Uint8Array(1 + 5 + groups * width);
  let at = 0;
  if (prefixWidth) out[at++] = width;
  at = varint(out, at, (groups << 1) | 1);
  const payload = at;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < n; i++) {
    acc |= (values[i] as number) << bits;
    bits += width;
    while (bits >= 8) {
      out[at++] = acc & 255;
      acc >>>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) out[at++] = acc & 255;
  // The run declares groups * 8 values, so its payload is exactly groups * width bytes (zero padded).
  return out.subarray(0, payload + groups * width);
}

/** Definition levels (max level 1) of a data page v1: a 4-byte length, then the RLE/bit-packed hybrid encoding. */
export function definitionLevels(b: ColumnBuilder): Uint8Array {
  const n = b.length;
  if (b.nullCount === 0) {
    // One RLE run of n ones.
    const out = new Uint8Array(4 + 6);
    const end = varint(out, 4, n * 2);
    out[end] = 1;
    new DataView(out.buffer).setInt32(0, end + 1 - 4, true);
    return out.subarray(0, end + 1);
  }
  // The validity bitmap is exactly a bit-packed run of width 1.
  const bytes = Math.ceil(n / 8);
  const out = new Uint8Array(4 + 5 + bytes);
  const at = varint(out, 4, (bytes << 1) | 1);
  out.set(b.validity.subarray(0, bytes), at);
  new DataView(out.buffer).setInt32(0, at + bytes - 4, true);
  return out.subarray(0, at + bytes);
}
