import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import type { ColumnSpec, OutputFormat } from "../../lib/output/encode/index.ts";
import type { ManifestChunk } from "../../lib/output/manifest.ts";
import { bucketOf, bucketPath, hash64, keyText, objectText, rowText } from "./canonical.ts";
import { checkPath, type DigestSide, type Figure, figures } from "./key-diff.ts";

/**
 * The object side of a content comparison: committed objects downloaded to a private temporary folder (their
 * SHA-256 checked against the manifest), read by DuckDB (an independent reader; NDJSON and CSV as text, so the
 * digits written are the digits compared) and reduced to (key text, row hash) as the source side is. DuckDB runs with
 * a memory limit and spills to the same folder, so a large schedule's "newest version per key" stays bounded too.
 */
export interface FetchedObjects {
  /** Local files, in manifest order, and the manifest chunk each came from. */
  files: { path: string; chunk: ManifestChunk }[];
  problems: string[];
}

export class ObjectDigest {
  private readonly dir = mkdtempSync(join(tmpdir(), "spotferry-verify-"));
  private con: Promise<DuckDBConnection> | null = null;
  private n = 0;

  async connection(): Promise<DuckDBConnection> {
    this.con ??= (async () => {
      const db = await DuckDBInstance.create(":memory:");
      const con = await db.connect();
      const spill = join(this.dir, "spill");
      mkdirSync(spill);
      await con.run(`SET TimeZone = 'UTC'`);
      await con.run(`SET memory_limit = '512MB'`);
      await con.run(`SET preserve_insertion_order = false`);
      await con.run(`SET temp_directory = '${spill.replace(/'/g, "''")}'`);
      return con;
    })();
    return this.con;
  }

  async query(sql: string): Promise<unknown[][]> {
    return (await (await this.connection()).runAndReadAll(sql)).getRows() as unknown[][];
  }

  /** Downloads chunks into a fresh folder; unreadable or altered objects are problems, not files. */
  async fetch(s3: S3Client, bucket: string, chunks: ManifestChunk[], format: OutputFormat): Promise<FetchedObjects> {
    const folder = join(this.dir, `p${this.n++}`);
    mkdirSync(folder);
    const out: FetchedObjects = { files: [], problems: [] };
    for (const [i, c] of chunks.entries()) {
      let body: Buffer;
      try {
        const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: c.key }));
        body = Buffer.from(await res.Body!.transformToByteArray());
      } catch (cause) {
        out.problems.push(`object ${c.key} cannot be read: ${(cause as Error).name}`);
        continue;
      }
      if (createHash("sha256").update(body).digest("hex") !== c.sha256) out.problems.push(`object ${c.key} does not match its SHA-256`);
      // The extension tells DuckDB the compression: the chunk's own (.gz, .zst or none).
      const compressed = /\.(gz|zst)$/.exec(c.key)?.[0] ?? "";
      const ext = format === "parquet" ? "parquet" : `${format === "ndjson" ? "json" : "csv"}${compressed}`;
      const path = join(folder, `${i}.${ext}`);
      writeFileSync(path, body);
      out.files.push({ path, chunk: c });
    }
    return out;
  }

  /** Deletes the files of one fetch (each partition's are removed before the next one's are fetched). */
  release(objects: FetchedObjects): void {
    for (const f of objects.files) rmSync(f.path, { force: true });
  }

  close(): void {
    this.con?.then((c) => c.closeSync()).catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** DuckDB's reader over files of one format, with every exported column by name (text formats as VARCHAR). */
export function readerSql(format: OutputFormat, paths: string[], schema: ColumnSpec[]): string {
  const list = `[${paths.map(lit).join(", ")}]`;
  if (format === "parquet") return `read_parquet(${list}, filename = true)`;
  const columns = `{${schema.map((c) => `${lit(c.name)}: 'VARCHAR'`).join(", ")}}`;
  if (format === "ndjson") return `read_json(${list}, format = 'newline_delimited', columns = ${columns}, filename = true)`;
  return (
    `read_csv(${list}, header = true, columns = ${columns}, auto_detect = false, delim = ',', quote = '"', escape = '"', ` +
    `allow_quoted_nulls = false, filename = true)`
  );
}

/** (file, key text k, row hash h) of every row in the files: the object side's relation. */
export function objectRelation(o: {
  format: OutputFormat;
  paths: string[];
  schema: ColumnSpec[];
  columns: ColumnSpec[];
  keyNames: string[];
}) {
  const byName = new Map(o.schema.map((c) => [c.name, c]));
  const keyCols = o.keyNames.map((n) => {
    const c = byName.get(n);
    if (!c) throw new Error(`the manifest's schema has no key column ${n}`);
    return c;
  });
  const key = keyText(
    "duckdb",
    keyCols.map((c) => objectText(c, o.format)),
  );
  const hash = hash64(
    "duckdb",
    rowText(
      "duckdb",
      o.columns.map((c) => objectText(c, o.format)),
    ),
  );
  return `SELECT filename AS f, ${key} AS k, ${hash} AS h FROM ${readerSql(o.format, o.paths, o.schema)}`;
}

/** Per file: rows and hash sum. */
export async function perFile(digest: ObjectDigest, relation: string): Promise<Map<string, Figure>> {
  return figures(await digest.query(`SELECT f, count(*), COALESCE(sum(h), 0) FROM (${relation}) GROUP BY f`));
}

export function objectSide(digest: ObjectDigest, relation: string): DigestSide {
  const under = (path: string) => (checkPath(path) ? ` WHERE ${bucketPath("duckdb", "k", path.length / 2)} = ${lit(path)}` : "");
  return {
    async buckets(path) {
      const b = bucketOf("duckdb", "k", path.length / 2);
      return figures(await digest.query(`SELECT ${b} AS b, count(*), COALESCE(sum(h), 0) FROM (${relation})${under(path)} GROUP BY b`));
    },
    async rows(path) {
      const rows = await digest.query(`SELECT k, CAST(h AS VARCHAR) FROM (${relation})${under(path)}`);
      return rows.map(([k, h]) => ({ key: String(k ?? ""), hash: String(h) }));
    },
  };
}
