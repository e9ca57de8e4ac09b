import { randomUUID } from "node:crypto";
import type { Ec2Operation } from "./ec2-common.ts";
import { Ec2Error } from "./ec2-errors.ts";
import { fleetDryRuns, fleetOperations } from "./ec2-fleet.ts";
import { imageOperations } from "./ec2-images.ts";
import { instanceOperations } from "./ec2-instances.ts";
import { marketOperations } from "./ec2-market.ts";
import { templateOperations } from "./ec2-templates.ts";
import { ec2Authorization } from "./iam/ec2-actions.ts";
import type { Principal } from "./json-services.ts";
import { decodeEc2Query } from "./query-codec.ts";
import type { World } from "./world.ts";
import { ec2ErrorXml, ec2ResponseXml } from "./xml.ts";

/**
 * The EC2 Query front end: `POST /` with a form body `Action=...&Version=2016-11-15&...`. Decodes the parameters with
 * the SDK's input schema, runs the action, and answers XML built from the output schema, or EC2's error envelope.
 */
const OPERATIONS: Record<string, Ec2Operation> = {
  ...templateOperations,
  ...fleetOperations,
  ...instanceOperations,
  ...marketOperations,
  ...imageOperations,
};

export const EC2_ACTIONS = Object.keys(OPERATIONS).sort();

export interface Ec2Reply {
  status: number;
  body: string;
}

/** Presigned-URL parameters are the signature's, not the action's (the decoder would refuse them as unknown). */
const actionParams = (params: URLSearchParams) => new URLSearchParams([...params].filter(([k]) => !k.startsWith("X-Amz-")));

export async function handleEc2(world: World, query: URLSearchParams, caller: Principal): Promise<Ec2Reply> {
  const params = actionParams(query);
  const requestId = randomUUID();
  const action = params.get("Action") ?? "";
  try {
    if (!action) throw new Ec2Error("MissingAction", "The request must contain the parameter Action");
    const operation = OPERATIONS[action];
    if (!operation) {
      throw new Ec2Error("InvalidAction", `The action ${action} is not valid for this web service (spotferry sim).`);
    }
    const version = params.get("Version");
    if (version !== "2016-11-15") {
      throw new Ec2Error(
        version ? "NoSuchVersion" : "MissingParameter",
        `An API version of 2016-11-15 is required, got ${version ?? "none"}.`,
      );
    }
    if (world.market.takeThrottle(action)) {
      world.events.add("throttled", { action });
      throw new Ec2Error("RequestLimitExceeded", "Request limit exceeded.", 503);
    }
    const [, , , , inputSchema, outputSchema] = operation.schema;
    const input = decodeEc2Query(inputSchema, params);
    // As on EC2, permissions come first: a DryRun answers DryRunOperation only to a caller who may do it.
    const denial = world.iam.check(caller, ec2Authorization(world, action, input), { service: "ec2", api: action });
    if (denial) {
      throw new Ec2Error("UnauthorizedOperation", `You are not authorized to perform this operation. ${denial.message}`, 403);
    }
    if (input.DryRun === true) {
      // Then the request's own checks (templates, subnets, types, profile), as EC2 runs them; nothing is created.
      fleetDryRuns[action]?.(world, input);
      throw new Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412);
    }
    const output = await operation.run(world, input);
    return { status: 200, body: ec2ResponseXml(action, outputSchema, output, requestId) };
  } catch (err) {
    if (err instanceof Ec2Error) return { status: err.status, body: ec2ErrorXml(err.code, err.message, requestId) };
    world.events.add("internal-error", { action, error: String(err) });
    return { status: 500, body: ec2ErrorXml("InternalError", `${action}: ${(err as Error).message}`, requestId) };
  }
}
