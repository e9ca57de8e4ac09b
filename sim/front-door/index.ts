import type { Clock } from "../../lib/clock.ts";
import type { FrontDoorIam } from "./caller.ts";
import { type FrontDoor, frontDoorEnv, startFrontDoor } from "./front-door.ts";
import type { CallRecorder } from "./recorder.ts";

export type { Denial, FrontDoorIam, IdentityError } from "./caller.ts";
export { type FrontDoor, frontDoorEnv, startFrontDoor } from "./front-door.ts";
export { type Outage, type OutageMode, Outages, outagesOf } from "./outage.ts";
export { bindRecorder, CallRecorder, callsReply, type RecordedCall, recorderOf } from "./recorder.ts";

export interface FrontDoors {
  doors: FrontDoor[];
  /** AWS_ENDPOINT_URL_S3 / _DYNAMODB of the doors: what the sim's env (local.env) and its nodes use. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * A front door for S3 and one for DynamoDB when the sim's environment names their local endpoints
 * (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, as `spotferry local up` sets them); none otherwise.
 */
export async function startFrontDoors(opts: {
  env: NodeJS.ProcessEnv;
  recorder: CallRecorder;
  clock: Clock;
  iam: () => FrontDoorIam | undefined;
}): Promise<FrontDoors> {
  const upstreams = [
    ["s3", opts.env.AWS_ENDPOINT_URL_S3],
    ["dynamodb", opts.env.AWS_ENDPOINT_URL_DYNAMODB],
  ] as const;
  const doors: FrontDoor[] = [];
  try {
    for (const [service, upstream] of upstreams) {
      if (upstream) doors.push(await startFrontDoor({ service, upstream, recorder: opts.recorder, clock: opts.clock, iam: opts.iam }));
    }
  } catch (err) {
    await Promise.all(doors.map((d) => d.stop()));
    throw err;
  }
  return { doors, env: frontDoorEnv(doors), stop: async () => void (await Promise.all(doors.map((d) => d.stop()))) };
}
