import type { AuthorizationRequest } from "../../lib/iam/policy-document.ts";

/**
 * CloudWatch has no resource-level permissions for metrics: `cloudwatch:<Operation>` on "*", and PutMetricData
 * carries the namespace as `cloudwatch:namespace` so a policy can pin a caller to its own namespace.
 */
export function cloudwatchAuthorization(operation: string, input: { Namespace?: unknown }): AuthorizationRequest[] {
  const context =
    operation === "PutMetricData" && typeof input.Namespace === "string" ? { "cloudwatch:namespace": input.Namespace } : undefined;
  return [{ action: `cloudwatch:${operation}`, resource: "*", context }];
}
