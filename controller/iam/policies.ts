import { ExitCode, UserError } from "../../lib/errors.ts";
import { POLICY_VERSION, type PolicyDocument, type PolicyStatement, RARE_SID_PREFIX } from "../../lib/iam/policy-document.ts";
import { ec2Statements } from "./ec2-statements.ts";
import type { PolicyInput } from "./scope.ts";
import { s3Arn, scopeOf } from "./scope.ts";
import {
  bucketArns,
  destinations,
  listBucketStatements,
  objectArns,
  outputKeyStatements,
  passwordStatements,
  stateTableStatements,
} from "./shared-statements.ts";

export type { PolicyInput } from "./scope.ts";

/** Where the controller publishes the agent bundle and the Node runtime (controller/cloud/node-templates.ts). */
const BUNDLE_PREFIX = "spotferry/";

const requireExports = (input: PolicyInput, role: string) => {
  if (input.exports.length === 0) {
    throw new UserError(
      `--config: no Export spec given; the ${role} policy is scoped to the destinations and passwords of the exports it runs`,
      { exitCode: ExitCode.usage },
    );
  }
};

/**
 * The controller role: `spotferry controller run` (reconcilers, planner, splitting, finalize, metrics, the agent
 * bundle) and the operator commands that share its view (export plan/show/verify, schedule, status, nodes, why,
 * partition, retry, cancel, drain, scale, rotate, logs). `export run --local` also runs agents on this machine under
 * the same credentials: grant the node policy too for that.
 *
 * Calls and their IAM actions, by statement:
 * - StateTable: GetItem, PutItem, UpdateItem, Query; TransactWriteItems is authorised per item (PutItem/UpdateItem);
 *   DescribeTable by `export plan` before it writes (ensureStateTable).
 *   Claim and reap queues and export listings query the GSI.
 * - Destinations: finalize and verify read (GetObject, also HeadObject) and write (manifest, `_SUCCESS`, run
 *   sections) under the prefix, list it (ListObjectsV2 = s3:ListBucket under an s3:prefix condition) and list
 *   multipart uploads (ListMultipartUploads = s3:ListBucketMultipartUploads, which takes no prefix condition).
 * - Agent bundle and Node runtime: HeadObject/PutObject under `spotferry/` of the artifact bucket; the presigned GETs
 *   nodes fetch them with are signed by the controller, so it needs s3:GetObject there.
 * - SSE-KMS destinations: kms:GenerateDataKey and kms:Decrypt on the key via S3 (outputKeyStatements).
 * - EC2, iam:PassRole: see ec2-statements.ts. CloudWatch PutMetricData, only into the settings' namespace.
 * Rare: deleting orphan objects (DeleteObjects = s3:DeleteObject per key), aborting orphan uploads, re-planning
 * (DeleteItem of old partitions), the ConditionCheckItem of `spotferry retry` and schedule runs, creating the state table
 * on the first `export plan`.
 */
export function controllerPolicy(input: PolicyInput): PolicyDocument {
  requireExports(input, "controller");
  if (input.pools.length === 0) {
    throw new UserError("--config: no Pool spec given; the controller policy is scoped to the pools' launch resources and tags", {
      exitCode: ExitCode.usage,
    });
  }
  const scope = scopeOf(input);
  const dests = destinations(input.exports);
  const table = input.settings.stateTable;
  const statements: PolicyStatement[] = [
    ...stateTableStatements({
      scope,
      table,
      sid: "StateTable",
      itemActions: ["DescribeTable", "GetItem", "PutItem", "Query", "UpdateItem"],
      indexQuery: true,
    }),
    { Sid: "ReadWriteExportOutput", Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: objectArns(scope, dests) },
    ...listBucketStatements(scope, dests, "ListExportPrefixes"),
    { Sid: "ListOrphanUploads", Effect: "Allow", Action: "s3:ListBucketMultipartUploads", Resource: bucketArns(scope, dests) },
    ...outputKeyStatements(input.exports),
  ];
  const artifacts = input.settings.artifactBucket;
  if (artifacts) {
    // Every start checks that the bundle and runtime it would publish are there; it uploads only what changed, so a
    // controller restarted on the same version never calls PutObject: a rare statement, not an unused one.
    statements.push(
      { Sid: "ReadAgentBundle", Effect: "Allow", Action: "s3:GetObject", Resource: s3Arn(scope, `${artifacts}/${BUNDLE_PREFIX}*`) },
      {
        Sid: `${RARE_SID_PREFIX}PublishChangedAgentBundle`,
        Effect: "Allow",
        Action: "s3:PutObject",
        Resource: s3Arn(scope, `${artifacts}/${BUNDLE_PREFIX}*`),
      },
    );
  }
  statements.push(...passwordStatements(scope, input.exports), ...ec2Statements(scope, input.pools, input.nodeRoleArn));
  statements.push(
    {
      Sid: "PublishMetrics",
      Effect: "Allow",
      Action: "cloudwatch:PutMetricData",
      Resource: "*",
      Condition: { StringEquals: { "cloudwatch:namespace": input.settings.metricsNamespace } },
    },
    { Sid: "RareDeleteOrphanObjects", Effect: "Allow", Action: "s3:DeleteObject", Resource: objectArns(scope, dests) },
    { Sid: "RareAbortOrphanUploads", Effect: "Allow", Action: "s3:AbortMultipartUpload", Resource: objectArns(scope, dests) },
    ...stateTableStatements({ scope, table, sid: "RareReplanDeletesPartitions", itemActions: ["DeleteItem"], indexQuery: false }),
    // The transactions of `spotferry retry` and of a schedule's run check the export or schedule item they guard.
    ...stateTableStatements({ scope, table, sid: "RareRetryAndScheduleGuards", itemActions: ["ConditionCheckItem"], indexQuery: false }),
    ...stateTableStatements({
      scope,
      table,
      sid: "RareCreateStateTable",
      itemActions: ["CreateTable", "UpdateTimeToLive"],
      indexQuery: false,
    }),
  );
  return { Version: POLICY_VERSION, Statement: statements };
}

/**
 * The node role (the pools' instance profile): `spotferry agent run` from the bundle. It reads the layout item and
 * the export record (GetItem), claims from the queue (Query on the GSI, then a TransactWriteItems of UpdateItem plus a
 * ledger PutItem), heartbeats and checkpoints (UpdateItem, PutItem of the chunk record), and uploads chunk objects
 * (lib-storage Upload: PutObject, or CreateMultipartUpload/UploadPart/CompleteMultipartUpload, all s3:PutObject)
 * under `<prefix><export>/data/`, with the KMS grants of an SSE-KMS destination. Its bundle comes through a URL the
 * controller presigned, so it needs no S3 read.
 * Rare: aborting the multipart upload of a chunk it abandons (spot notice, lost lease, failure).
 */
export function nodePolicy(input: PolicyInput): PolicyDocument {
  requireExports(input, "node");
  const scope = scopeOf(input);
  const dests = destinations(input.exports);
  const chunks = objectArns(scope, dests, "*/data/part-*");
  const statements: PolicyStatement[] = [
    ...stateTableStatements({
      scope,
      table: input.settings.stateTable,
      sid: "StateTable",
      itemActions: ["GetItem", "PutItem", "UpdateItem"],
      indexQuery: true,
    }),
    { Sid: "WriteChunkObjects", Effect: "Allow", Action: "s3:PutObject", Resource: chunks },
    ...outputKeyStatements(input.exports),
    ...passwordStatements(scope, input.exports),
    { Sid: "RareAbortAbandonedChunkUpload", Effect: "Allow", Action: "s3:AbortMultipartUpload", Resource: chunks },
  ];
  return { Version: POLICY_VERSION, Statement: statements };
}
