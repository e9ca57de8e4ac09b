import { createHash } from "node:crypto";
import { QueryError, type QueryReply, queryError, queryResponse } from "./iam/iam-api.ts";
import { ACCOUNT_ID } from "./iam/identities.ts";
import type { Principal } from "./json-services.ts";
import { escapeXml } from "./xml.ts";

/**
 * STS's query API (`Version=2011-06-15`, signed for `sts`), GetCallerIdentity only: who the signing key is. As on AWS
 * it needs no permission (even an explicit deny cannot refuse it). UserId is the account id for root keys and
 * `<role id>:<session name>` for a role session, the role id a stable `AROA...` derived from the role's name.
 */
export const STS_VERSION = "2011-06-15";
export const STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/";

export const roleId = (role: string) =>
  `AROA${createHash("sha256")
    .update(role)
    .digest("hex")
    .slice(0, 17)
    .toUpperCase()
    .replace(/[^0-9A-Z]/g, "X")}`;

function callerIdentity(caller: Principal): string {
  const userId = caller.kind === "root" ? ACCOUNT_ID : `${roleId(caller.role ?? "")}:${caller.session ?? ""}`;
  return `<Arn>${escapeXml(caller.arn)}</Arn><UserId>${escapeXml(userId)}</UserId><Account>${ACCOUNT_ID}</Account>`;
}

export function handleSts(params: URLSearchParams, caller: Principal): QueryReply {
  const action = params.get("Action") ?? "";
  try {
    if (params.get("Version") !== STS_VERSION) throw new QueryError("InvalidParameterValue", `The Version must be ${STS_VERSION}.`);
    if (action !== "GetCallerIdentity") {
      throw new QueryError("InvalidAction", `The action ${action} is not valid for this web service (spotferry sim).`);
    }
    return { status: 200, body: queryResponse(STS_XMLNS, action, callerIdentity(caller)) };
  } catch (err) {
    const e = err instanceof QueryError ? err : new QueryError("InternalFailure", `${action}: ${(err as Error).message}`, 500);
    return queryError(STS_XMLNS, e);
  }
}
