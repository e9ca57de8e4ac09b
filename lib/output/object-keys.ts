import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as zlib from "node:zlib";
import { gunzipSync } from "node:zlib";
import { DuckDBInstance } from "@duckdb/node-api";
import type { KeyColumn } from "../../config/records.ts";
import type { OutputFormat } from "./encode/index.ts";

/**
 * Reads the key of every row of one chunk object, as the text MariaDB gives for `CAST(col AS CHAR)` (binary as HEX),
 * so the same checksum can be computed on both sides. Parquet is read by DuckDB, an independent reader; NDJSON and
 * CSV by parsing. Composite keys are joined with the unit separator, as in the SQL side.
 */
export const KEY_SEPARATOR = "\u001f";

export class ObjectKeyReader {
  private readonly keyColumns: KeyColumn[];
  private readonly extra: KeyColumn[];
  private readonly dir = mkdtempSync(join(tmpdir(), "spotferry-verify-"));
  private db: Promise<DuckDBInstance> | null = null;
  private n = 0;

  /**
   * `extra`: further columns read as text next to the key, in the same form (e.g. an incremental schedule's version
   * column, so `schedule verify` can check which version of each row the output holds).
   */
  constructor(keyColumns: KeyColumn[], extra: KeyColumn[] = []) {
    this.keyColumns = keyColumns;
    this.extra = extra;
  }

  async keys(format: OutputFormat, body: Buffer, columnNames: string[]): Promise<string[]> {
    return (await this.rows(format, body, columnNames)).map((r) => r[0] as string);
  }

  /** Per row: the key's text, then each extra column's text (the key's rules; NULL is refused). */
  async rows(format: OutputFormat, body: Buffer, columnNames: string[]): Promise<string[][]> {
    if (format === "parquet") return this.parquetRows(body);
    const text = decompressed(body).toString("utf8");
    return format === "ndjson" ? this.ndjsonRows(text) : this.csvRows(text, columnNames);
  }

  private async parquetRows(body: Buffer): Promise<string[][]> {
    const file = join(this.dir, `c${this.n++}.parquet`);
    writeFileSync(file, body);
    try {
      this.db ??= DuckDBInstance.create(":memory:");
      const con = await (await this.db).connect();
      try {
        const exprs = this.keyColumns.map((c) => duckText(c));
        const key = exprs.length === 1 ? exprs[0] : `concat_ws(chr(31), ${exprs.join(", ")})`;
        const cols = [key, ...this.extra.map((c) => duckText(c))];
        const sql = `SELECT ${cols.join(", ")} FROM read_parquet('${file.replace(/'/g, "''")}')`;
        const reader = await con.runAndReadAll(sql);
        return reader.getRows().map((r) =>
          r.map((v, i) => {
            if (v === null) throw new Error(`column ${i === 0 ? "of the key" : this.extra[i - 1]?.name} is NULL in an exported row`);
            return String(v);
          }),
        );
      } finally {
        con.closeSync();
      }
    } finally {
      rmSync(file, { force: true });
    }
  }

  private ndjsonRows(text: string): string[][] {
    const out: string[][] = [];
    for (const line of text.split("\n")) {
      if (!line) continue;
      const row = JSON.parse(line) as Record<string, unknown>;
      out.push([this.keyColumns.map((c) => textOf(c, row[c.name])).join(KEY_SEPARATOR), ...this.extra.map((c) => textOf(c, row[c.name]))]);
    }
    return out;
  }

  private csvRows(text: string, columnNames: string[]): string[][] {
    const rows = parseCsv(text);
    const header = rows.shift() ?? columnNames;
    const idx = this.keyColumns.map((c) => header.indexOf(c.name));
    const extraIdx = this.extra.map((c) => header.indexOf(c.name));
    if ([...idx, ...extraIdx].some((i) => i < 0)) throw new Error("a key or version column is missing from the CSV header");
    return rows.map((r) => [
      this.keyColumns.map((c, j) => textOf(c, r[idx[j]!])).join(KEY_SEPARATOR),
      ...this.extra.map((c, j) => textOf(c, r[extraIdx[j]!])),
    ]);
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function duckText(c: KeyColumn): string {
  const q = `"${c.name.replace(/"/g, '""')}"`;
  if (c.type === "binary") return `hex(${q})`;
  if (c.type === "datetime") {
    const fsp = Number(/\((\d)\)/.exec(c.sqlType)?.[1] ?? 0);
    const full = `strftime(${q}::TIMESTAMP, '%Y-%m-%d %H:%M:%S.%f')`;
    return fsp === 0 ? `substr(${full}, 1, 19)` : `substr(${full}, 1, ${20 + fsp})`;
  }
  return `CAST(${q} AS VARCHAR)`;
}

function textOf(c: KeyColumn, v: unknown): string {
  if (v === null || v === undefined) throw new Error(`column ${c.name} is NULL in an exported row`);
  if (c.type === "binary") return Buffer.from(String(v), "base64").toString("hex").toUpperCase();
  return String(v);
}

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else if (ch !== "\r") field += ch;
  }
  if (field || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** A text object's bytes, gunzipped or zstd-decompressed when its magic number says so. */
export function decompressed(body: Buffer): Buffer {
  if (body[0] === 0x1f && body[1] === 0x8b) return gunzipSync(body);
  if (body.readUInt32LE(0) === ZSTD_MAGIC) {
    const unzstd = (zlib as unknown as { zstdDecompressSync?: (b: Buffer) => Buffer }).zstdDecompressSync;
    if (!unzstd) throw new Error(`reading a zstd object needs Node >= 22.15 (this is ${process.version})`);
    return unzstd(body);
  }
  return body;
}
const ZSTD_MAGIC = 0xfd2fb528;
