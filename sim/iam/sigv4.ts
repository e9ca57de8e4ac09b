import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Principal } from "../json-services.ts";
import type { SimIam } from "./identities.ts";

/**
 * Signature Version 4 as AWS checks it: the credential scope names the key, date, region and service; the sim
 * re-signs the request it received (only the headers the client signed, its x-amz-date, the body's hash) with the
 * key's secret using @smithy/signature-v4, the SDK's own signer, and compares. Header auth and presigned query
 * auth (X-Amz-Credential / X-Amz-Signature) both work. The request's age is not checked: a sim under a FakeClock
 * has its own idea of "now", while clients sign with the wall clock.
 */
export interface ReceivedRequest {
  method: string;
  /** The path as received (percent-encoded), without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The raw body bytes (still gzip-compressed when the client compressed it: that is what was signed). */
  body: Buffer;
}

export interface Credential {
  accessKeyId: string;
  shortDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  sessionToken?: string;
  presigned: boolean;
  expiresIn?: number;
}

export type AuthCode =
  | "MissingAuthenticationToken"
  | "IncompleteSignature"
  | "InvalidClientTokenId"
  | "ExpiredToken"
  | "SignatureDoesNotMatch";

export interface AuthFailure {
  code: AuthCode;
  message: string;
  /** The credential scope's service when the request got that far (it tells EC2 and CloudWatch query calls apart). */
  service?: string;
}

export interface Authenticated {
  principal: Principal;
  service: string;
  region: string;
}

const header = (h: IncomingHttpHeaders, name: string) => {
  const v = h[name];
  return Array.isArray(v) ? v.join(",") : v;
};

const SCOPE = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/;

/** The credential of a request, undefined for an unsigned one, or the failure of a malformed one. */
export function parseCredential(req: ReceivedRequest): Credential | AuthFailure | undefined {
  const auth = header(req.headers, "authorization");
  if (auth !== undefined) {
    const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(auth.trim());
    if (!m) return { code: "IncompleteSignature", message: "Authorization header requires the AWS4-HMAC-SHA256 algorithm." };
    const fields = Object.fromEntries(
      (m[1] ?? "").split(",").map((part) => {
        const [k = "", ...v] = part.trim().split("=");
        return [k, v.join("=")];
      }),
    );
    return credentialOf({
      credential: fields.Credential,
      signedHeaders: fields.SignedHeaders,
      signature: fields.Signature,
      amzDate: header(req.headers, "x-amz-date"),
      sessionToken: header(req.headers, "x-amz-security-token"),
      presigned: false,
    });
  }
  if (req.query.has("X-Amz-Signature") || req.query.has("X-Amz-Credential")) {
    if (req.query.get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256") {
      return { code: "IncompleteSignature", message: "X-Amz-Algorithm must be AWS4-HMAC-SHA256." };
    }
    return credentialOf({
      credential: req.query.get("X-Amz-Credential") ?? undefined,
      signedHeaders: req.query.get("X-Amz-SignedHeaders") ?? undefined,
      signature: req.query.get("X-Amz-Signature") ?? undefined,
      amzDate: req.query.get("X-Amz-Date") ?? undefined,
      sessionToken: req.query.get("X-Amz-Security-Token") ?? undefined,
      presigned: true,
      expiresIn: Number(req.query.get("X-Amz-Expires") ?? 3600),
    });
  }
  return undefined;
}

function credentialOf(raw: {
  credential?: string;
  signedHeaders?: string;
  signature?: string;
  amzDate?: string;
  sessionToken?: string;
  presigned: boolean;
  expiresIn?: number;
}): Credential | AuthFailure {
  const scope = SCOPE.exec(raw.credential ?? "");
  if (!scope || !raw.signedHeaders || !raw.signature) {
    return {
      code: "IncompleteSignature",
      message: "Authorization requires Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders and Signature.",
    };
  }
  const [, accessKeyId = "", shortDate = "", region = "", service = ""] = scope;
  if (!raw.amzDate || !/^\d{8}T\d{6}Z$/.test(raw.amzDate) || !raw.amzDate.startsWith(shortDate)) {
    return { code: "IncompleteSignature", message: "X-Amz-Date is missing or does not match the credential scope's date.", service };
  }
  return {
    accessKeyId,
    shortDate,
    region,
    service,
    signedHeaders: raw.signedHeaders.split(";").map((h) => h.trim().toLowerCase()),
    signature: raw.signature,
    amzDate: raw.amzDate,
    sessionToken: raw.sessionToken,
    presigned: raw.presigned,
    expiresIn: raw.expiresIn,
  };
}

/** node:crypto behind the SDK's hash interface (SHA-256, or HMAC-SHA-256 with a secret). */
/** What the signer hashes (@smithy/types' SourceData, spelled out: that package is not a direct dependency). */
type SourceData = string | ArrayBuffer | ArrayBufferView;

const bytes = (data: SourceData): Uint8Array | string =>
  typeof data === "string"
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

export class Sha256 {
  private readonly secret?: Uint8Array | string;
  private hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: SourceData) {
    this.secret = secret === undefined ? undefined : bytes(secret);
    this.hash = this.fresh();
  }
  private fresh() {
    return this.secret === undefined ? createHash("sha256") : createHmac("sha256", this.secret);
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

const signingDate = (amzDate: string) =>
  new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );

const queryRecord = (q: URLSearchParams, drop: Set<string>): Record<string, string | string[]> => {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of q) {
    if (drop.has(k)) continue;
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
};

const PRESIGN_PARAMS = new Set([
  "X-Amz-Algorithm",
  "X-Amz-Credential",
  "X-Amz-Date",
  "X-Amz-Expires",
  "X-Amz-SignedHeaders",
  "X-Amz-Signature",
  "X-Amz-Security-Token",
]);

/** The signature the client should have sent, computed by the SDK's signer over what was received. */
export async function expectedSignature(req: ReceivedRequest, cred: Credential, secretAccessKey: string): Promise<string> {
  const headers: Record<string, string> = {};
  for (const name of cred.signedHeaders) {
    const v = header(req.headers, name);
    if (v !== undefined) headers[name] = v;
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: cred.accessKeyId, secretAccessKey, sessionToken: cred.presigned ? cred.sessionToken : undefined },
    region: cred.region,
    service: cred.service,
    sha256: Sha256,
    applyChecksum: false,
  });
  const path = req.path
    .split("/")
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    })
    .join("/");
  const request = {
    method: req.method,
    protocol: "http:",
    hostname: (headers.host ?? "").split(":")[0] ?? "",
    path,
    query: queryRecord(req.query, cred.presigned ? PRESIGN_PARAMS : new Set()),
    headers,
    body: req.body.length ? req.body : undefined,
  };
  const options = { signingDate: signingDate(cred.amzDate), signableHeaders: new Set(cred.signedHeaders) };
  if (cred.presigned) {
    const signed = await signer.presign(request, { ...options, expiresIn: cred.expiresIn });
    return String(signed.query?.["X-Amz-Signature"] ?? "");
  }
  const signed = await signer.sign(request, options);
  return /Signature=([0-9a-f]+)/.exec(String(signed.headers.authorization ?? ""))?.[1] ?? "";
}

const sameHex = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** Who sent the request, or why AWS would refuse it; the body hash a client declares must be the body's. */
export async function authenticate(iam: SimIam, req: ReceivedRequest): Promise<Authenticated | AuthFailure> {
  const cred = parseCredential(req);
  if (cred === undefined) {
    return { code: "MissingAuthenticationToken", message: "Request is missing Authentication Token" };
  }
  if ("code" in cred) return cred;
  const fail = (code: AuthCode, message: string): AuthFailure => ({ code, message, service: cred.service });
  const secret = iam.secretOf(cred.accessKeyId);
  if (secret === undefined) return fail("InvalidClientTokenId", "The security token included in the request is invalid.");
  const declared = header(req.headers, "x-amz-content-sha256");
  if (declared && declared !== "UNSIGNED-PAYLOAD" && declared !== createHash("sha256").update(req.body).digest("hex")) {
    return fail("SignatureDoesNotMatch", "The provided x-amz-content-sha256 header does not match what was computed.");
  }
  if (!cred.signedHeaders.includes("host")) return fail("SignatureDoesNotMatch", "The host header must be signed.");
  const expected = await expectedSignature(req, cred, secret);
  if (!sameHex(expected, cred.signature.toLowerCase())) {
    return fail(
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
    );
  }
  const who = iam.identify(cred.accessKeyId, cred.sessionToken);
  if ("code" in who) return fail(who.code, who.message);
  return { principal: who, service: cred.service, region: cred.region };
}
