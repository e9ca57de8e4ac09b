/**
 * `spotferry-agent --self-test`: proves a node's agent install can do the work without touching AWS or MySQL — the
 * Parquet path end to end (worker thread entry, zstd wasm, snappy), which is where a bundle misses a file if it does.
 * The bootstrap tests run it on the bundle outside the repository (no node_modules).
 */
import { type ColumnSpec, createEncoder } from "../lib/output/encode/index.ts";

const column = (name: string, kind: ColumnSpec["kind"], sourceType: string): ColumnSpec => ({
  name,
  kind,
  nullable: true,
  precision: 0,
  scale: 0,
  fsp: 0,
  bits: 0,
  sourceType,
});

async function encodeParquet(compression: "zstd" | "snappy" | "gzip", threads: "worker" | "inline"): Promise<number> {
  const columns = [column("id", "int64", "LONGLONG"), column("note", "text", "VAR_STRING")];
  const rows = Array.from({ length: 1000 }, (_, i) => [i, i % 7 === 0 ? null : `row ${i}`]);
  const enc = createEncoder("parquet", columns, { compression, threads });
  const chunks: Buffer[] = [];
  const reading = (async () => {
    for await (const b of enc.output) chunks.push(b as Buffer);
  })();
  await enc.write(rows);
  const stats = await enc.end();
  await reading;
  const bytes = Buffer.concat(chunks);
  if (bytes.subarray(0, 4).toString() !== "PAR1" || bytes.subarray(-4).toString() !== "PAR1") {
    throw new Error(`self-test: ${compression}/${threads} Parquet output is not a Parquet file (${bytes.length} bytes)`);
  }
  if (stats.rows !== rows.length) throw new Error(`self-test: encoded ${stats.rows} of ${rows.length} rows`);
  return bytes.length;
}

/** Returns a one-line report; throws naming the codec and thread mode that failed. */
export async function selfTest(): Promise<string> {
  const results: string[] = [];
  for (const [codec, threads] of [
    ["zstd", "worker"],
    ["snappy", "inline"],
    ["gzip", "inline"],
  ] as const) {
    try {
      results.push(`parquet/${codec}/${threads}=${await encodeParquet(codec, threads)}B`);
    } catch (cause) {
      throw new Error(`agent self-test: encoding Parquet with ${codec} (${threads})`, { cause });
    }
  }
  return `self-test ok: node ${process.versions.node}, ${results.join(" ")}`;
}
