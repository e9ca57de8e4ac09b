import type { ExportRecord } from "../../config/records.ts";
import type { Env } from "../../lib/aws/env.ts";
import type { Clock } from "../../lib/clock.ts";
import { describeError } from "../../lib/errors.ts";
import { resolveSourceLogin } from "../../lib/mysql/connect.ts";

/**
 * The controller's admission check before it launches capacity for an export: the export's source password must
 * resolve (lib/secrets/resolve.ts) with the controller's own credentials. A secret that is missing, denied or
 * malformed would otherwise only show on every node, one quarantined partition at a time, after the fleet was paid
 * for. A refused export's partitions do not count as work (no node is launched for them) and the one-line reason is
 * logged when it first appears or changes; it is asked again after `retryAfterMs`, so fixing the secret is enough.
 * An admitted export is not asked again: rotations are the agents' business (they re-resolve after access denied).
 */
export interface SourceAdmissionOptions {
  clock: Clock;
  log: (line: string) => void;
  env?: Env;
  retryAfterMs?: number;
}

export class SourceAdmission {
  private readonly opts: SourceAdmissionOptions;
  private readonly admitted = new Set<string>();
  private readonly refused = new Map<string, { reason: string; until: number }>();

  constructor(opts: SourceAdmissionOptions) {
    this.opts = opts;
  }

  /** Whether nodes may be launched for this export's partitions; the first call per export resolves its secret. */
  async admits(record: ExportRecord): Promise<boolean> {
    if (this.admitted.has(record.exportId)) return true;
    const now = this.opts.clock.now();
    const prior = this.refused.get(record.exportId);
    if (prior && now < prior.until) return false;
    try {
      await resolveSourceLogin(record.spec.source, this.opts.env);
    } catch (err) {
      const reason = describeError(err);
      if (prior?.reason !== reason) this.opts.log(`export ${record.exportId}: no nodes launched for it: ${reason}`);
      this.refused.set(record.exportId, { reason, until: now + (this.opts.retryAfterMs ?? 60_000) });
      return false;
    }
    if (prior) this.opts.log(`export ${record.exportId}: its source password resolves now; launching for it`);
    this.refused.delete(record.exportId);
    this.admitted.add(record.exportId);
    return true;
  }
}
