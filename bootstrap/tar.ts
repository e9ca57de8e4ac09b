/**
 * A minimal, deterministic tar.gz writer (POSIX ustar, regular files in one flat folder). Deterministic on purpose:
 * the bundle is published content-addressed, so the same inputs must give the same bytes (mtime 0, uid/gid 0, sorted
 * names, gzip without a timestamp). GNU tar and busybox tar on the nodes read it.
 */
import { gunzipSync, gzipSync } from "node:zlib";

export interface TarFile {
  /** A relative path (the bundle's are plain names: the archive is extracted into the install directory). */
  name: string;
  data: Buffer;
  mode?: number;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  // width includes the terminating NUL.
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}

function header(file: TarFile): Buffer {
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(file.name) || file.name.length > 99 || file.name.split("/").includes(".."))
    throw new Error(`tar: unsupported file name ${JSON.stringify(file.name)}`);
  const h = Buffer.alloc(BLOCK);
  h.write(file.name, 0, "utf8");
  h.write(octal(file.mode ?? 0o644, 8), 100);
  h.write(octal(0, 8), 108); // uid
  h.write(octal(0, 8), 116); // gid
  h.write(octal(file.data.length, 12), 124);
  h.write(octal(0, 12), 136); // mtime
  h.write("        ", 148); // checksum placeholder: eight spaces while summing
  h.write("0", 156); // regular file
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

/** The gzip-compressed tar of `files`, sorted by name (gzip level 9 unless told: the Node runtime is built at 6). */
export function tarGz(files: TarFile[], opts: { level?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    parts.push(header(f), f.data);
    const pad = (BLOCK - (f.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2)); // end-of-archive marker
  return gzipSync(Buffer.concat(parts), { level: opts.level ?? 9 });
}

/**
 * The regular files of a gzip-compressed tar (ustar, GNU or pax), by their full path. Only for archives whose digest
 * was checked first (the registry's Node package): it trusts sizes, and skips links, folders and pax headers.
 */
export function readTarGz(archive: Buffer): Map<string, Buffer> {
  const tar = gunzipSync(archive);
  const files = new Map<string, Buffer>();
  for (let at = 0; at + BLOCK <= tar.length; ) {
    const h = tar.subarray(at, at + BLOCK);
    if (h.every((b) => b === 0)) break;
    const field = (from: number, len: number) =>
      h
        .subarray(from, from + len)
        .toString("utf8")
        .replace(/\0.*$/s, "");
    const size = Number.parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1) || "0";
    const prefix = field(345, 155);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    at += BLOCK;
    if (type === "0") files.set(name, Buffer.from(tar.subarray(at, at + size)));
    at += Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}
