import type { AuthorizationRequest } from "../../lib/iam/policy-document.ts";
import type { MappedCall } from "./s3-actions.ts";

/**
 * DynamoDB calls (AWS JSON 1.0, `X-Amz-Target: DynamoDB_20120810.<Op>`) -> the IAM requests AWS evaluates for them.
 * Most operations are `dynamodb:<Op>` on the table ARN; Query and Scan with an IndexName are on the index ARN
 * (`table/T/index/I`); TransactWriteItems is authorised per item (Put -> PutItem, Update -> UpdateItem, Delete ->
 * DeleteItem, ConditionCheck -> ConditionCheckItem) and TransactGetItems per Get (GetItem); BatchGetItem and
 * BatchWriteItem are their own actions, once per table they name. A TableName may itself be an ARN.
 */
export const DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810.";

export interface DynamoScope {
  region: string;
  account: string;
}

type Json = Record<string, unknown>;

const tableArn = (scope: DynamoScope, table: string) =>
  table.startsWith("arn:") ? table : `arn:aws:dynamodb:${scope.region}:${scope.account}:table/${table}`;

/** Operations on no table at all: Resource "*". */
const ACCOUNT_LEVEL = new Set([
  "ListTables",
  "DescribeLimits",
  "DescribeEndpoints",
  "ListBackups",
  "ListGlobalTables",
  "ListExports",
  "ListImports",
]);

const TRANSACT_WRITE: Record<string, string> = {
  Put: "dynamodb:PutItem",
  Update: "dynamodb:UpdateItem",
  Delete: "dynamodb:DeleteItem",
  ConditionCheck: "dynamodb:ConditionCheckItem",
};

function transactWrite(scope: DynamoScope, body: Json): AuthorizationRequest[] {
  const items = Array.isArray(body.TransactItems) ? (body.TransactItems as Json[]) : [];
  const out: AuthorizationRequest[] = [];
  for (const item of items) {
    for (const [kind, action] of Object.entries(TRANSACT_WRITE)) {
      const op = item[kind] as Json | undefined;
      if (op) out.push({ action, resource: tableArn(scope, String(op.TableName ?? "")) });
    }
  }
  return out;
}

function transactGet(scope: DynamoScope, body: Json): AuthorizationRequest[] {
  const items = Array.isArray(body.TransactItems) ? (body.TransactItems as Json[]) : [];
  return items
    .map((i) => i.Get as Json | undefined)
    .filter((g): g is Json => g !== undefined)
    .map((g) => ({ action: "dynamodb:GetItem", resource: tableArn(scope, String(g.TableName ?? "")) }));
}

/** The API and IAM requests of one DynamoDB call; `target` is the X-Amz-Target header, `body` the JSON text. */
export function dynamodbRequests(scope: DynamoScope, target: string, body: string): MappedCall {
  const api = target.startsWith(DYNAMODB_TARGET_PREFIX) ? target.slice(DYNAMODB_TARGET_PREFIX.length) : target;
  let input: Json = {};
  try {
    input = (JSON.parse(body || "{}") as Json) ?? {};
  } catch {
    // Unparsable: the service answers SerializationException; authorise the bare operation on no table.
  }
  const action = `dynamodb:${api}`;
  if (api === "TransactWriteItems") return { api, requests: transactWrite(scope, input) };
  if (api === "TransactGetItems") return { api, requests: transactGet(scope, input) };
  if (api === "BatchGetItem" || api === "BatchWriteItem") {
    const tables = Object.keys((input.RequestItems as Json | undefined) ?? {});
    return { api, requests: tables.map((t) => ({ action, resource: tableArn(scope, t) })) };
  }
  if (ACCOUNT_LEVEL.has(api)) return { api, requests: [{ action, resource: "*" }] };
  const table = String(input.TableName ?? input.ResourceArn ?? "");
  const base = tableArn(scope, table);
  const index = typeof input.IndexName === "string" && (api === "Query" || api === "Scan") ? input.IndexName : undefined;
  return { api, requests: [{ action, resource: index ? `${base}/index/${index}` : base }] };
}
