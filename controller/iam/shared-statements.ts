import type { ExportSpec } from "../../config/export-spec.ts";
import type { SecretRef } from "../../config/secret.ts";
import type { PolicyStatement } from "../../lib/iam/policy-document.ts";
import { type Scope, s3Arn, ssmParameterArn, tableArn, uniq } from "./scope.ts";

/**
 * Statements both documents are made of: the state table, the export destinations and the MySQL password. Each
 * function takes what it scopes to and returns finished statements; the callers pick the actions their side calls.
 */

/** DynamoDB on the state table (items) and its indexes (Query only: GSIs serve nothing else). */
export function stateTableStatements(opts: {
  scope: Scope;
  table: string;
  sid: string;
  itemActions: string[];
  indexQuery: boolean;
}): PolicyStatement[] {
  const table = tableArn(opts.scope, opts.table);
  const out: PolicyStatement[] = [
    { Sid: opts.sid, Effect: "Allow", Action: opts.itemActions.map((a) => `dynamodb:${a}`), Resource: table },
  ];
  if (opts.indexQuery) out.push({ Sid: `${opts.sid}Indexes`, Effect: "Allow", Action: "dynamodb:Query", Resource: `${table}/index/*` });
  return out;
}

export interface Destination {
  bucket: string;
  prefix: string;
}

/** Every export destination once (two specs writing to one prefix are one destination). */
export function destinations(exports: ExportSpec[]): Destination[] {
  const seen = new Map<string, Destination>();
  for (const e of exports) seen.set(`${e.destination.bucket}\n${e.destination.prefix}`, e.destination);
  return [...seen.values()].sort((a, b) => `${a.bucket}/${a.prefix}`.localeCompare(`${b.bucket}/${b.prefix}`));
}

/** `bucket/prefix<tail>` ARNs of the destinations (tail `*` = every object under the prefix). */
export const objectArns = (scope: Scope, dests: Destination[], tail = "*") =>
  uniq(dests.map((d) => s3Arn(scope, `${d.bucket}/${d.prefix}${tail}`)));

export const bucketArns = (scope: Scope, dests: Destination[]) => uniq(dests.map((d) => s3Arn(scope, d.bucket)));

/**
 * s3:ListBucket (ListObjectsV2) on each bucket, only for keys under its prefixes: one statement per bucket because the
 * `s3:prefix` condition belongs to it. A destination with an empty prefix lists the whole bucket (no condition).
 */
export function listBucketStatements(scope: Scope, dests: Destination[], sid: string): PolicyStatement[] {
  const byBucket = new Map<string, string[]>();
  for (const d of dests) byBucket.set(d.bucket, [...(byBucket.get(d.bucket) ?? []), d.prefix]);
  return [...byBucket.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([bucket, prefixes], i) => {
      const statement: PolicyStatement = {
        Sid: byBucket.size === 1 ? sid : `${sid}${i + 1}`,
        Effect: "Allow",
        Action: "s3:ListBucket",
        Resource: s3Arn(scope, bucket),
      };
      if (!prefixes.includes("")) statement.Condition = { StringLike: { "s3:prefix": uniq(prefixes.map((p) => `${p}*`)) } };
      return statement;
    });
}

/**
 * Reading the MySQL password of each export: secretsmanager:GetSecretValue on exactly the secret's ARN, or
 * ssm:GetParameter on the parameter's, and kms:Decrypt on a customer-managed key the ref names, only through that
 * service in the key's region (`kms:ViaService`). AWS-managed keys (aws/secretsmanager, aws/ssm) need no grant here.
 * Passwords from the environment (local mode) need nothing.
 */
export function passwordStatements(scope: Scope, exports: ExportSpec[]): PolicyStatement[] {
  const secrets: string[] = [];
  const parameters: string[] = [];
  const keys = new Map<string, Set<string>>();
  const addKey = (ref: SecretRef & { kmsKeyArn?: string }, service: string) => {
    if (!ref.kmsKeyArn) return;
    const region = ref.kmsKeyArn.split(":")[3] || scope.region;
    const via = keys.get(ref.kmsKeyArn) ?? new Set<string>();
    via.add(`${service}.${region}.amazonaws.com`);
    keys.set(ref.kmsKeyArn, via);
  };
  for (const e of exports) {
    const ref = e.source.password;
    if (!ref || "env" in ref) continue;
    if ("secretArn" in ref) {
      secrets.push(ref.secretArn);
      addKey(ref, "secretsmanager");
    } else {
      parameters.push(ssmParameterArn(scope, ref.ssmParameter));
      addKey(ref, "ssm");
    }
  }
  const out: PolicyStatement[] = [];
  if (secrets.length)
    out.push({ Sid: "ReadMysqlPasswordSecret", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: uniq(secrets) });
  if (parameters.length)
    out.push({ Sid: "ReadMysqlPasswordParameter", Effect: "Allow", Action: "ssm:GetParameter", Resource: uniq(parameters) });
  [...keys.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .forEach(([key, via], i) => {
      out.push({
        Sid: keys.size === 1 ? "DecryptMysqlPassword" : `DecryptMysqlPassword${i + 1}`,
        Effect: "Allow",
        Action: "kms:Decrypt",
        Resource: key,
        Condition: { StringEquals: { "kms:ViaService": uniq(via) } },
      });
    });
  return out;
}

/**
 * SSE-KMS outputs (destination.sse): S3 asks KMS on the writer's behalf, so the writer needs kms:GenerateDataKey (a
 * PutObject or CreateMultipartUpload) and kms:Decrypt (each UploadPart and the Complete of a multipart upload, and
 * any read back) on exactly the key, only via S3 in the key's region. SSE-S3 needs no grant.
 */
export function outputKeyStatements(exports: ExportSpec[]): PolicyStatement[] {
  const keys = new Map<string, string>();
  for (const e of exports) {
    const sse = e.destination.sse;
    if (sse?.type === "SSE-KMS") keys.set(sse.kmsKeyId, `s3.${sse.kmsKeyId.split(":")[3]}.amazonaws.com`);
  }
  return [...keys.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, via], i) => ({
      Sid: keys.size === 1 ? "EncryptExportOutput" : `EncryptExportOutput${i + 1}`,
      Effect: "Allow" as const,
      Action: ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: key,
      Condition: { StringEquals: { "kms:ViaService": via } },
    }));
}
