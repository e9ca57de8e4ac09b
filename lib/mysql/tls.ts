import { isIP, type Socket, connect as tcpConnect } from "node:net";
import { TLSSocket } from "node:tls";
import type { SslOptions } from "mysql2";
import { ConfigError } from "../../config/config-error.ts";
import { parseCaPem, readCaFile, type SourceTls } from "../../config/export-spec.ts";

export type { SslOptions };

/**
 * The CA certificates a source connection trusts: `ca` when given (the export record carries it to the nodes), else
 * the file named by caFile (the controller's copy); undefined for Node's default CAs.
 */
export function caBundleOf(tls: SourceTls): string | undefined {
  if (tls.ca !== undefined) return tls.ca;
  if (tls.caFile === undefined) return undefined;
  const read = readCaFile(tls.caFile);
  if ("problem" in read) throw new ConfigError("export spec", [`source.tls.caFile: ${read.problem}`]);
  return read.pem;
}

/**
 * mysql2's `ssl` option for source.tls. mysql2 (3.x, lib/base/connection.js startTLS) builds the secure context from
 * `ca` (and cert/key/ciphers/min/maxVersion) only, and drives verification with two flags of its own: `rejectUnauthorized`
 * (chain against the CA, default true) and `verifyIdentity` (Node's tls.checkServerIdentity against the host); a
 * `checkServerIdentity` or `servername` in `ssl` is ignored. So: required = neither flag, verify-ca = the chain only,
 * verify-full = both; for an IP host verify-full also needs tlsConnectOptions' socket. Undefined without `tls`: no
 * TLS at all, as before the option existed. `caPem` overrides the spec's CA.
 */
export function sslOptions(tls: SourceTls | undefined, caPem?: string): SslOptions | undefined {
  if (!tls) return undefined;
  if (tls.mode === "required") return { rejectUnauthorized: false, verifyIdentity: false };
  const ca = caPem ?? caBundleOf(tls);
  return { ...(ca === undefined ? {} : { ca }), rejectUnauthorized: true, verifyIdentity: tls.mode === "verify-full" };
}

/**
 * What a mysql2 connection or pool needs for source.tls: `ssl`, and for verify-full to an IP address a socket of our
 * own. mysql2 sends no SNI for an IP and passes no host to tls.connect, so Node checks the certificate against the
 * socket's `_host`, which net sets only after a DNS lookup: for an IP, against "localhost" (a certificate for
 * IP:127.0.0.1 fails, one for DNS:localhost passes). Setting `_host` to the IP, as a lookup would, makes Node check
 * the IP SANs. A custom stream skips mysql2's own socket set-up, so keep-alive and no-delay are set here.
 */
export function tlsConnectOptions(
  tls: SourceTls | undefined,
  target: { host: string; port: number },
): { ssl?: SslOptions; stream?: () => Socket } {
  const ssl = sslOptions(tls);
  if (!ssl) return {};
  if (tls?.mode !== "verify-full" || isIP(target.host) === 0) return { ssl };
  const stream = () => {
    const socket = tcpConnect(target.port, target.host);
    (socket as unknown as { _host: string })._host = target.host;
    socket.setNoDelay(true);
    socket.once("connect", () => socket.setKeepAlive(true, 0));
    return socket;
  };
  return { ssl, stream };
}

/** The TLS socket under a mysql2 connection (callback or promise API), once the handshake upgraded it. */
function tlsSocketOf(conn: unknown): TLSSocket | null {
  const c = conn as { stream?: unknown; connection?: { stream?: unknown } };
  const stream = c.connection?.stream ?? c.stream;
  return stream instanceof TLSSocket ? stream : null;
}

/** SHA-256 fingerprints of the peer's chain as the handshake verified it, root included (Node completes it from the CA). */
function chainFingerprints(socket: TLSSocket): Set<string> {
  const seen = new Set<string>();
  let cert = socket.getPeerCertificate(true);
  while (cert?.fingerprint256 && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    cert = cert.issuerCertificate;
  }
  return seen;
}

/**
 * The TLS settings an export record carries, taken from a connection the planner opened with `tls`. A CA bundle is
 * cut to the certificates that anchor the server's verified chain: RDS's global bundle is ~100 certificates (~170 KB),
 * which would ride in the export's META item (read at every claim, projected into the EXPORTS index, 400 KB item
 * limit); the one or two that matter are a few KB. The host is the same for every node, so its chain is too; a CA
 * rotation on the server mid-export makes the nodes' connections fail verification (the partition's error says so)
 * until the export is planned again. caFile is kept as a record of where the certificates came from.
 */
export function recordedTls(tls: SourceTls, conn: unknown): SourceTls {
  if (tls.mode === "required") return tls;
  const bundle = caBundleOf(tls);
  if (bundle === undefined) return tls;
  const socket = tlsSocketOf(conn);
  if (!socket?.authorized) throw new Error(`recording source.tls: the planner's connection is not a verified TLS connection`);
  const parsed = parseCaPem(bundle, "the CA bundle");
  if ("problem" in parsed) throw new ConfigError("export spec", [`source.tls: ${parsed.problem}`]);
  const chain = chainFingerprints(socket);
  const anchors = parsed.certificates.filter((c) => chain.has(c.fingerprint256));
  // None matched (a chain OpenSSL completed some other way): keep the whole bundle rather than guess.
  const ca = anchors.length > 0 ? `${anchors.map((c) => c.toString().trim()).join("\n")}\n` : parsed.pem;
  return { ...tls, ca };
}
