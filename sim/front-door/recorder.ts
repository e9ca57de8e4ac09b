import type { AuthorizationRequest } from "../../lib/iam/policy-document.ts";

/**
 * What the front doors saw: one record per S3 or DynamoDB call, with the IAM requests it was (or would have been)
 * authorised as. `GET /_sim/calls?role=NAME` serves them; sim/iam/coverage.ts checks a printed policy against them.
 */
export interface RecordedCall {
  /** Epoch ms on the sim's clock. */
  time: number;
  /** The caller's ARN; "anonymous" for unsigned calls, `unidentified:<key>` while the sim has no IAM to ask. */
  principal: string;
  /** The role of a role session. */
  role?: string;
  /** "s3" and "dynamodb" from the front doors; the sim's own services by signing name ("ec2", "monitoring", ...). */
  service: string;
  /** The API name: PutObject, CreateMultipartUpload, TransactWriteItems... */
  api: string;
  requests: AuthorizationRequest[];
  /** The status the caller got (the upstream's, or the front door's own denial). */
  status: number;
  /** Set when the front door refused the call itself: the IAM action denied, or the identity error's code. */
  refused?: string;
}

/** Bounded so a long rehearsal cannot grow the sim without limit; the oldest records go first. */
const MAX_CALLS = 200_000;

export class CallRecorder {
  private readonly calls: RecordedCall[] = [];
  private dropped = 0;

  record(call: RecordedCall): void {
    this.calls.push(call);
    if (this.calls.length > MAX_CALLS) {
      this.calls.splice(0, this.calls.length - MAX_CALLS);
      this.dropped++;
    }
  }

  list(filter: { role?: string; service?: string } = {}): RecordedCall[] {
    return this.calls.filter(
      (c) => (filter.role === undefined || c.role === filter.role) && (filter.service === undefined || c.service === filter.service),
    );
  }

  /** Whether records were ever dropped (a coverage check over a truncated log would miss calls). */
  get truncated(): boolean {
    return this.dropped > 0;
  }
}

/** One recorder per sim, found by its World (the control API reads it); the world module stays unaware of it. */
const recorders = new WeakMap<object, CallRecorder>();

/** Makes `recorder` the one of `world` (the sim starts its front doors before the world exists). */
export function bindRecorder(world: object, recorder: CallRecorder): void {
  recorders.set(world, recorder);
}

export function recorderOf(world: object): CallRecorder {
  let r = recorders.get(world);
  if (!r) {
    r = new CallRecorder();
    recorders.set(world, r);
  }
  return r;
}

/** `GET /_sim/calls?role=NAME&service=s3` as the control API answers it. */
export function callsReply(world: object, url: URL): { status: number; body: string } {
  const r = recorderOf(world);
  const calls = r.list({ role: url.searchParams.get("role") ?? undefined, service: url.searchParams.get("service") ?? undefined });
  return { status: 200, body: `${JSON.stringify({ truncated: r.truncated, calls })}\n` };
}
