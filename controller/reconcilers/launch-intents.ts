import { isoAt } from "../../lib/clock.ts";
import { digest } from "../../lib/dynamo/keys.ts";
import type { LaunchRequest, LaunchResult } from "../cloud/cloud-provider.ts";
import type { LaunchIntent } from "../store/fleet-store.ts";
import { isoMs, type ReconcileContext } from "./context.ts";

/**
 * Idempotent launches across controller crashes. Each CreateFleet is first recorded in the state table as the pool's
 * next launch (sequence number, ClientToken, the whole request), then sent with that ClientToken, and closed once its
 * nodes are recorded. A controller killed in between leaves the launch open; its successor finds it before anything
 * else in the pool's provisioning pass and repeats the very same request with the very same token, which EC2 answers
 * with the first call's fleet and instances instead of launching again, and records those as nodes.
 */

/**
 * How long after it started an open launch is repeated. EC2 keeps a ClientToken for at least 24 hours; past this the
 * instances (if any) are left to garbage collection, which finds them by their tags.
 */
export const LAUNCH_REPLAY_WINDOW_MS = 3600_000;

/**
 * Crash injection for tests: with this variable set to "1" the controller process SIGKILLs itself right after
 * CreateFleet returns, before it records a node, which is the window the launch record exists for.
 */
export const KILL_AFTER_LAUNCH_ENV = "SPOTFERRY_CRASH_AFTER_CREATE_FLEET";

/**
 * The ClientToken of a recorded launch (64 ASCII characters at most, as EC2 takes them): a digest of pool, generation,
 * sequence and start time, so it is unique per table and pool even across tables sharing an account.
 */
export function launchToken(intent: { pool: string; generation: number; seq: number; startedAt: string }): string {
  return `spotferry-${digest(`${intent.pool}|${intent.generation}|${intent.seq}|${intent.startedAt}`).slice(0, 40)}`;
}

/** A launch made through its record: the request as sent (token included), its result, and the record to close. */
export interface RecordedLaunch {
  request: LaunchRequest;
  result: LaunchResult;
  seq: number;
}

/**
 * Records the pool's next launch, then sends it with its ClientToken. Throws when the record cannot be written (another
 * launch is open or was just recorded by someone else): nothing has been launched then.
 */
export async function launchRecorded(ctx: ReconcileContext, ask: Omit<LaunchRequest, "clientToken">): Promise<RecordedLaunch> {
  const last = await ctx.fleet.getLaunch(ask.pool);
  const seq = (last?.seq ?? 0) + 1;
  const startedAt = isoAt(ctx.clock);
  const request: LaunchRequest = { ...ask, clientToken: launchToken({ pool: ask.pool, generation: ask.generation, seq, startedAt }) };
  const intent = { pool: ask.pool, seq, clientToken: request.clientToken ?? "", request: JSON.stringify(request), startedAt };
  if (!(await ctx.fleet.openLaunch(intent))) {
    throw new Error(`recording launch ${seq} of pool ${ask.pool}: another launch was recorded first; retrying on the next run`);
  }
  return { request, result: await send(ctx, request), seq };
}

/**
 * The pool's open launch, repeated with its token when still inside LAUNCH_REPLAY_WINDOW_MS; null when there is none.
 * This also covers a CreateFleet whose answer was lost (it threw after EC2 launched). An open launch past the window is
 * closed unrepeated (logged), since EC2 may have forgotten its token and would launch anew; one whose repeat throws is
 * closed too.
 */
export async function repeatOpenLaunch(ctx: ReconcileContext, pool: string): Promise<RecordedLaunch | null> {
  const open = await ctx.fleet.getLaunch(pool);
  if (!open?.open) return null;
  if (ctx.clock.now() - isoMs(open.startedAt) > LAUNCH_REPLAY_WINDOW_MS) {
    ctx.log(
      `pool ${pool}: launch ${open.seq} (${open.clientToken}) was left open too long to repeat; garbage collection finds its instances`,
    );
    await ctx.fleet.closeLaunch(pool, open.seq);
    return null;
  }
  const request = parseRequest(open);
  ctx.log(`pool ${pool}: repeating launch ${open.seq} left open by a previous controller (${open.clientToken})`);
  try {
    return { request, result: await send(ctx, request), seq: open.seq };
  } catch (cause) {
    // Repeated once only: a request EC2 refuses for good (a deleted template, say) must not block the pool's launches.
    await ctx.fleet.closeLaunch(pool, open.seq);
    throw new Error(`repeating launch ${open.seq} of pool ${pool}; closed it, garbage collection finds any instances`, { cause });
  }
}

async function send(ctx: ReconcileContext, request: LaunchRequest): Promise<LaunchResult> {
  const result = await ctx.cloud.launch(request);
  if (process.env[KILL_AFTER_LAUNCH_ENV] === "1") process.kill(process.pid, "SIGKILL");
  return result;
}

function parseRequest(intent: LaunchIntent): LaunchRequest {
  try {
    return JSON.parse(intent.request) as LaunchRequest;
  } catch (cause) {
    throw new Error(`reading launch ${intent.seq} of pool ${intent.pool}`, { cause });
  }
}
