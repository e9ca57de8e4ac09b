import type { AuthorizationRequest } from "../../lib/iam/policy-document.ts";

/**
 * S3 REST calls (path-style, as every local client sends them) -> the API name and the IAM requests AWS evaluates
 * for them. IAM actions are not API names: multipart uploads are s3:PutObject, HeadObject is s3:GetObject,
 * ListObjectsV2 and HeadBucket are s3:ListBucket, DeleteObjects is s3:DeleteObject per key of its XML body, CopyObject
 * and UploadPartCopy also need s3:GetObject on the source. Object ARNs are `arn:aws:s3:::bucket/key`, bucket ARNs
 * `arn:aws:s3:::bucket`. The S3 condition keys the front door can know (s3:prefix, s3:delimiter, s3:max-keys for
 * listings; s3:x-amz-copy-source; s3:x-amz-server-side-encryption and its -aws-kms-key-id on writes) ride in the
 * request context.
 */
export interface S3Call {
  method: string;
  /** The raw path, still percent-encoded: `/bucket/key`. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  /** The body, read only when the mapping needs it (`POST ?delete`). */
  body?: string;
}

export interface MappedCall {
  api: string;
  requests: AuthorizationRequest[];
}

/** Does this call's mapping need its body (DeleteObjects lists its keys in the XML)? Every other body is streamed. */
export const s3NeedsBody = (method: string, query: URLSearchParams) => method === "POST" && query.has("delete");

const objectArn = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`;
const bucketArn = (bucket: string) => `arn:aws:s3:::${bucket}`;

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Bucket subresources S3 answers for GET/PUT/DELETE on `/bucket?<name>`, by the IAM action suffix they need. */
const BUCKET_SUBRESOURCES: Record<string, { GET?: [string, string]; PUT?: [string, string]; DELETE?: [string, string] }> = {
  location: { GET: ["GetBucketLocation", "s3:GetBucketLocation"] },
  versioning: { GET: ["GetBucketVersioning", "s3:GetBucketVersioning"], PUT: ["PutBucketVersioning", "s3:PutBucketVersioning"] },
  policy: {
    GET: ["GetBucketPolicy", "s3:GetBucketPolicy"],
    PUT: ["PutBucketPolicy", "s3:PutBucketPolicy"],
    DELETE: ["DeleteBucketPolicy", "s3:DeleteBucketPolicy"],
  },
  acl: { GET: ["GetBucketAcl", "s3:GetBucketAcl"], PUT: ["PutBucketAcl", "s3:PutBucketAcl"] },
  tagging: {
    GET: ["GetBucketTagging", "s3:GetBucketTagging"],
    PUT: ["PutBucketTagging", "s3:PutBucketTagging"],
    DELETE: ["DeleteBucketTagging", "s3:PutBucketTagging"],
  },
  lifecycle: {
    GET: ["GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"],
    PUT: ["PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"],
    DELETE: ["DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"],
  },
  uploads: { GET: ["ListMultipartUploads", "s3:ListBucketMultipartUploads"] },
  versions: { GET: ["ListObjectVersions", "s3:ListBucketVersions"] },
};

/** The keys of a DeleteObjects body (`<Delete><Object><Key>k</Key></Object>...`), XML entities decoded. */
export function deleteObjectsKeys(xml: string): string[] {
  const decodeEntities = (s: string) =>
    s
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
      .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(Number.parseInt(n, 16)))
      .replace(/&amp;/g, "&");
  return [...xml.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => decodeEntities(m[1]!));
}

function listContext(query: URLSearchParams): AuthorizationRequest["context"] {
  const context: Record<string, string> = {};
  for (const k of ["prefix", "delimiter", "max-keys"]) {
    const v = query.get(k);
    if (v !== null) context[`s3:${k}`] = v;
  }
  return context;
}

function bucketCall(call: S3Call, bucket: string): MappedCall {
  const { method, query } = call;
  const arn = bucketArn(bucket);
  if (method === "POST" && query.has("delete")) {
    const keys = deleteObjectsKeys(call.body ?? "");
    return { api: "DeleteObjects", requests: keys.map((k) => ({ action: "s3:DeleteObject", resource: objectArn(bucket, k) })) };
  }
  for (const [name, byMethod] of Object.entries(BUCKET_SUBRESOURCES)) {
    const hit = query.has(name) ? byMethod[method as "GET" | "PUT" | "DELETE"] : undefined;
    if (hit) {
      const context = name === "uploads" || name === "versions" ? listContext(query) : undefined;
      return { api: hit[0], requests: [{ action: hit[1], resource: arn, ...(context ? { context } : {}) }] };
    }
  }
  if (method === "GET") {
    const api = query.get("list-type") === "2" ? "ListObjectsV2" : "ListObjects";
    return { api, requests: [{ action: "s3:ListBucket", resource: arn, context: listContext(query) }] };
  }
  if (method === "HEAD") return { api: "HeadBucket", requests: [{ action: "s3:ListBucket", resource: arn }] };
  if (method === "PUT") return { api: "CreateBucket", requests: [{ action: "s3:CreateBucket", resource: arn }] };
  if (method === "DELETE") return { api: "DeleteBucket", requests: [{ action: "s3:DeleteBucket", resource: arn }] };
  return { api: `${method}Bucket`, requests: [{ action: `s3:${method}Bucket`, resource: arn }] };
}

/** `x-amz-copy-source: /bucket/key?versionId=...` (leading slash optional, percent-encoded) -> the source object ARN. */
function copySourceArn(source: string): string {
  const path = decode(source.split("?")[0]!.replace(/^\//, ""));
  return `arn:aws:s3:::${path}`;
}

/** The SSE condition keys S3 evaluates on PutObject and CreateMultipartUpload, from their request headers. */
function sseContext(headers: S3Call["headers"]): Record<string, string> | undefined {
  const context: Record<string, string> = {};
  for (const h of ["x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id"]) {
    const v = headers[h];
    if (typeof v === "string") context[`s3:${h}`] = v;
  }
  return Object.keys(context).length ? context : undefined;
}

function objectCall(call: S3Call, bucket: string, key: string): MappedCall {
  const { method, query } = call;
  const arn = objectArn(bucket, key);
  const one = (api: string, action: string): MappedCall => ({ api, requests: [{ action, resource: arn }] });
  const copySource = call.headers["x-amz-copy-source"];
  const source = typeof copySource === "string" ? copySource : undefined;
  if (method === "PUT") {
    if (query.has("tagging")) return one("PutObjectTagging", "s3:PutObjectTagging");
    if (query.has("acl")) return one("PutObjectAcl", "s3:PutObjectAcl");
    const api = query.has("uploadId") ? (source ? "UploadPartCopy" : "UploadPart") : source ? "CopyObject" : "PutObject";
    const context = { ...sseContext(call.headers), ...(source ? { "s3:x-amz-copy-source": source } : {}) };
    const requests: AuthorizationRequest[] = [
      { action: "s3:PutObject", resource: arn, ...(Object.keys(context).length ? { context } : {}) },
    ];
    if (source) requests.push({ action: "s3:GetObject", resource: copySourceArn(source) });
    return { api, requests };
  }
  if (method === "POST") {
    if (query.has("uploads")) {
      const context = sseContext(call.headers);
      return { api: "CreateMultipartUpload", requests: [{ action: "s3:PutObject", resource: arn, ...(context ? { context } : {}) }] };
    }
    if (query.has("uploadId")) return one("CompleteMultipartUpload", "s3:PutObject");
    if (query.has("restore")) return one("RestoreObject", "s3:RestoreObject");
    return one("PostObject", "s3:PutObject");
  }
  if (method === "DELETE") {
    if (query.has("uploadId")) return one("AbortMultipartUpload", "s3:AbortMultipartUpload");
    if (query.has("tagging")) return one("DeleteObjectTagging", "s3:DeleteObjectTagging");
    return query.has("versionId") ? one("DeleteObject", "s3:DeleteObjectVersion") : one("DeleteObject", "s3:DeleteObject");
  }
  if (method === "GET" || method === "HEAD") {
    if (query.has("uploadId")) return one("ListParts", "s3:ListMultipartUploadParts");
    if (query.has("tagging")) return one("GetObjectTagging", "s3:GetObjectTagging");
    if (query.has("acl")) return one("GetObjectAcl", "s3:GetObjectAcl");
    const versioned = query.has("versionId");
    return one(method === "GET" ? "GetObject" : "HeadObject", versioned ? "s3:GetObjectVersion" : "s3:GetObject");
  }
  return one(`${method}Object`, `s3:${method}Object`);
}

/** The API and IAM requests of one S3 call. */
export function s3Requests(call: S3Call): MappedCall {
  const rest = call.path.split("?")[0]!.replace(/^\/+/, "");
  if (rest === "") return { api: "ListBuckets", requests: [{ action: "s3:ListAllMyBuckets", resource: "*" }] };
  const slash = rest.indexOf("/");
  const bucket = decode(slash < 0 ? rest : rest.slice(0, slash));
  const key = slash < 0 ? "" : decode(rest.slice(slash + 1));
  return key === "" ? bucketCall(call, bucket) : objectCall(call, bucket, key);
}
