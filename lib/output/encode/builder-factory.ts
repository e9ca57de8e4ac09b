/**
 * Picks the column builder for a column from its kind and its Parquet column (column-builders.ts for the PLAIN
 * layouts, dictionary-builders.ts for ENUM/SET and text, BooleanBuilder for TINYINT(1) written as BOOLEAN).
 */
import { BytesBuilder } from "./bytes-builder.ts";
import { ColumnBuilder, grown, type Row } from "./column-builders.ts";
import type { ColumnSpec } from "./column-spec.ts";
import { DictionaryBuilder, TextBuilder } from "./dictionary-builders.ts";
import { FixedBuilder, Int64Builder, NumberBuilder } from "./number-builders.ts";
import { type ParquetColumn, Physical } from "./parquet-format.ts";

/** TINYINT(1) as BOOLEAN: PLAIN is one bit per non-null value, LSB first. Only 0 and 1 are booleans. */
export class BooleanBuilder extends ColumnBuilder {
  private bits: Uint8Array;
  private n = 0;
  private seen0 = false;
  private seen1 = false;

  constructor(spec: ColumnSpec, index: number, capacity: number) {
    super(spec, index, capacity);
    this.bits = new Uint8Array(Math.ceil(this.rowsHeld / 8));
  }

  protected override resize(rows: number): void {
    this.bits = grown(this.bits, Math.ceil(rows / 8));
  }

  override append(rows: readonly Row[], from: number, to: number): void {
    this.reserve(to - from);
    const j = this.index;
    const validity = this.validity;
    const nullable = this.spec.nullable;
    let i = this.length;
    for (let r = from; r < to; r++, i++) {
      const v = (rows[r] as Row)[j];
      if (v !== null && v !== undefined && this.put(v)) {
        if (nullable) validity[i >> 3] = (validity[i >> 3] as number) | (1 << (i & 7));
      } else this.addNull();
    }
    this.length = i;
  }

  protected put(v: unknown): boolean {
    const x = typeof v === "number" ? v : typeof v === "boolean" ? Number(v) : Number(String(v));
    if (x === 1) {
      const n = this.n;
      this.bits[n >> 3] = (this.bits[n >> 3] as number) | (1 << (n & 7));
      this.seen1 = true;
    } else if (x === 0) this.seen0 = true;
    // MySQL's TINYINT(1) holds -128..127: anything but 0/1 would be a silent loss as a boolean.
    else throw new Error(`TINYINT(1) value ${String(v)} is neither 0 nor 1, so it cannot be written as BOOLEAN (tinyint1AsBoolean)`);
    this.n++;
    return true;
  }

  override bounds(): [Uint8Array, Uint8Array] | null {
    if (this.n === 0) return null;
    return [Uint8Array.of(this.seen0 ? 0 : 1), Uint8Array.of(this.seen1 ? 1 : 0)];
  }

  values(): Uint8Array {
    return this.bits.subarray(0, Math.ceil(this.n / 8));
  }

  byteSize(): number {
    return Math.ceil(this.n / 8);
  }

  override reset(): void {
    super.reset();
    this.bits.fill(0, 0, Math.ceil(this.n / 8));
    this.n = 0;
    this.seen0 = false;
    this.seen1 = false;
  }
}

export interface BuilderOptions {
  /** Bound on a text column's dictionary page (PLAIN bytes); 0 = never dictionary-encode text. */
  maxDictBytes: number;
}

export function createBuilder(col: ParquetColumn, index: number, capacity: number, opts: BuilderOptions): ColumnBuilder {
  const spec = col.spec;
  if (col.physical === Physical.BOOLEAN) return new BooleanBuilder(spec, index, capacity);
  switch (spec.kind) {
    case "int64":
    case "uint64":
    case "datetime":
    case "timestamp":
      return new Int64Builder(spec, index, capacity);
    case "decimal":
      if (spec.precision <= 9) return new NumberBuilder(spec, index, capacity);
      if (spec.precision <= 18) return new Int64Builder(spec, index, capacity);
      return new FixedBuilder(spec, index, capacity, col.width);
    case "bit":
      return spec.bits > 32 ? new Int64Builder(spec, index, capacity) : new NumberBuilder(spec, index, capacity);
    case "enum":
    case "set":
      return new DictionaryBuilder(spec, index, capacity);
    case "text":
      return col.dictionary === "try" ? new TextBuilder(spec, index, capacity, opts.maxDictBytes) : new BytesBuilder(spec, index, capacity);
    case "time":
    case "json":
    case "binary":
      return new BytesBuilder(spec, index, capacity);
    default:
      return new NumberBuilder(spec, index, capacity);
  }
}
