import { seededRandom } from "../chaos.ts";

/**
 * The chaos run's fault schedule: which faults, in which order, with which parameters, all drawn from one seed, so
 * the same seed gives the same list. When each one lands depends on the run (it is due at a fraction of the rows
 * committed and waits until it has something to hit), which is the interleaving the figures must survive.
 */
export const FAULT_KINDS = ["agent-kill", "agent-freeze", "mysql-kill", "s3-outage", "dynamodb-outage", "controller-kill"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Shares of the schedule. Freezes and controller kills each take a lease's time to play out, so they are fewer. */
const SHARES: Record<FaultKind, number> = {
  "mysql-kill": 0.45,
  "s3-outage": 0.15,
  "dynamodb-outage": 0.15,
  "agent-kill": 0.14,
  "agent-freeze": 0.06,
  "controller-kill": 0.05,
};

export interface PlannedFault {
  /** Position in the schedule. */
  index: number;
  kind: FaultKind;
  /** Due once this fraction of the rows is committed. */
  at: number;
  /** Outages: how long (s) and how the door behaves. */
  seconds?: number;
  mode?: "refuse" | "hang";
  /** Picks the victim among the candidates of the moment (a busy node, a session), in [0, 1). */
  pick: number;
}

export interface ScheduleOptions {
  seed: number;
  faults: number;
  /** The faults are spread over this fraction of the rows (default 0.85): the tail of an export has little in flight. */
  spread?: number;
  /** Outage length range in seconds (default 1..3). */
  outageSeconds?: [number, number];
}

/** Counts per kind: each kind's share of `n` rounded down, at least one of each, the rest to the largest shares. */
export function faultCounts(n: number): Record<FaultKind, number> {
  if (!Number.isInteger(n) || n < FAULT_KINDS.length) {
    throw new Error(`planning ${n} faults: need a whole number >= ${FAULT_KINDS.length} (one of each kind)`);
  }
  const counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, Math.max(1, Math.floor(n * SHARES[k]))])) as Record<FaultKind, number>;
  const byShare = [...FAULT_KINDS].sort((a, b) => SHARES[b] - SHARES[a]);
  let total = FAULT_KINDS.reduce((s, k) => s + counts[k], 0);
  for (let i = 0; total < n; i++, total++) counts[byShare[i % byShare.length]!]++;
  for (let i = 0; total > n; i++) {
    const k = byShare[i % byShare.length]!;
    if (counts[k] > 1) {
      counts[k]--;
      total--;
    }
  }
  return counts;
}

export function planSchedule(opts: ScheduleOptions): PlannedFault[] {
  const random = seededRandom(opts.seed);
  const spread = opts.spread ?? 0.85;
  const [lo, hi] = opts.outageSeconds ?? [1, 3];
  const counts = faultCounts(opts.faults);
  const kinds = FAULT_KINDS.flatMap((k) => Array.from({ length: counts[k] }, () => k));
  // Fisher-Yates with the seeded generator: the order is the seed's.
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  return kinds.map((kind, index) => {
    const fault: PlannedFault = { index, kind, at: (spread * (index + 1)) / (kinds.length + 1), pick: random() };
    if (kind === "s3-outage" || kind === "dynamodb-outage") {
      fault.seconds = Math.round((lo + random() * (hi - lo)) * 10) / 10;
      fault.mode = random() < 0.5 ? "refuse" : "hang";
    }
    return fault;
  });
}
