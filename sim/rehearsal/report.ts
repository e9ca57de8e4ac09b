import type { NodeRecord, PoolRecord } from "../../config/records.ts";
import type { FinalizeResult } from "../../controller/finalize/finalize.ts";
import { type ExportCostEstimate, formatUsd } from "../../controller/oncall/cost.ts";
import type { VerifyReport } from "../../controller/verify/verify.ts";
import { type EstimateComparison, estimateLines } from "./estimate-check.ts";
import { type NodeEnvCheck, type PolicyChecks, policiesHold, policyLines } from "./iam-check.ts";
import { type Fault, type LedgerFigures, type Move, spread } from "./ledger.ts";
import type { OncallCheck } from "./oncall-check.ts";

/** The rehearsal's figures: what the closing note quotes. */
export interface RehearsalReport {
  exportId: string;
  ok: boolean;
  /** What made `ok` false, one short phrase each (empty when it passed). */
  failures: string[];
  rows: number;
  /** Setup (seed, plan) + export + verify. */
  totalSeconds: number;
  /** Controller start to export SUCCEEDED. */
  exportSeconds: number;
  seedSeconds: number;
  partitions: { planned: number; final: number; splits: number };
  interruptions: {
    /** Spot notices the sim sent (hazard or explicit) and hard kills, to nodes of this pool. */
    notices: number;
    kills: number;
    fromHazard: number;
    /** Nodes the controller counted as interrupted and replaced. */
    countedByController: number;
    replacements: number;
  };
  moves: {
    /** Hand-overs of a partition to another node, by cause. */
    total: number;
    afterFault: number;
    afterDrain: number;
    reaped: number;
    partitionsMoved: number;
    /** Fault (notice or kill) to the partition's next claim by another node, seconds. */
    faultToResume: { n: number; medianS: number | null; maxS: number | null };
    noticeToRelease: { n: number; medianS: number | null; maxS: number | null };
    noticeToResume: { n: number; medianS: number | null; maxS: number | null };
    killToResume: { n: number; medianS: number | null; maxS: number | null };
  };
  rework: {
    /** Uncommitted chunk objects found and deleted at finalize (chunks written twice). */
    orphanObjects: number;
    uploadsAborted: number;
    /** (orphans + aborted uploads) per fault. Hard kills lose their in-flight chunk without leaving an object. */
    chunksPerInterruption: number | null;
    /** Each split makes its owner re-read at most the chunk it was writing (not visible in S3). */
    splitRereadsAtMost: number;
  };
  rotation: { requested: boolean; generation: number; oldNodesDrained: number; newNodes: number };
  controller: { leaders: string[]; restarted: boolean };
  cost: { usd: number; nodeHours: number; nodes: number; spotUsd: number };
  verify: { partitions: number; rows: number; missing: number; duplicated: number; mismatched: number };
  skippedFaults: string[];
  /** The on-call commands run against the live fleet mid-export (oncall-check.ts). */
  oncall: OncallCheck[];
  /** The printed IAM policies against every call each role made (iam-check.ts). */
  iam: PolicyChecks;
  /** What the live nodes' processes had in their environment: no credentials, no secrets. */
  nodeEnv: NodeEnvCheck;
  /** The plan-time estimate next to the actual figures (estimate-check.ts); absent when none was made. */
  estimate?: EstimateComparison;
}

export interface ReportInput {
  exportId: string;
  plannedPartitions: number;
  rowsPlanned: number;
  seeded: { seeded: boolean; ms: number };
  totalMs: number;
  exportMs: number;
  faults: Fault[];
  ledger: LedgerFigures;
  finalize: FinalizeResult | null;
  cost: ExportCostEstimate;
  pool: PoolRecord | null;
  nodes: NodeRecord[];
  rotatedAt: number | null;
  restartedAt: number | null;
  leaders: string[];
  skipped: string[];
  verify: VerifyReport;
  oncall: OncallCheck[];
  iam: PolicyChecks;
  nodeEnv: NodeEnvCheck;
  estimate?: EstimateComparison;
}

const moved = (m: Move) => m.to !== null && m.to !== m.from;

/** Every check the rehearsal's verdict rests on; an on-call command that failed fails the rehearsal. */
export function rehearsalFailures(i: Pick<ReportInput, "verify" | "rowsPlanned" | "iam" | "nodeEnv" | "oncall">): string[] {
  const failures: string[] = [];
  const v = i.verify;
  if (v.missing > 0 || v.duplicated > 0 || v.mismatched.length > 0) failures.push("verify found problems");
  if (v.rows !== i.rowsPlanned) failures.push(`verify counted ${v.rows} rows of ${i.rowsPlanned} planned`);
  if (!policiesHold(i.iam)) failures.push("the IAM policies do not hold");
  if (i.nodeEnv.inspected === 0) failures.push("no live node's environment was read");
  if (i.nodeEnv.leaks.length > 0) failures.push("credentials in a node's environment");
  for (const c of i.oncall) if (!c.ok) failures.push(`on-call check failed: ${c.command}`);
  return failures;
}

export function buildReport(i: ReportInput): RehearsalReport {
  const moves = i.ledger.moves.filter(moved);
  const afterFault = moves.filter((m) => m.fault !== null);
  const ms = (list: Move[], f: (m: Move) => number | null) => list.map(f).filter((v): v is number => v !== null);
  const notices = i.faults.filter((f) => f.kind === "notice");
  const kills = i.faults.filter((f) => f.kind === "kill");
  const orphans = i.finalize?.orphansDeleted ?? 0;
  const aborted = i.finalize?.uploadsAborted ?? 0;
  const generation = i.pool?.generation ?? 1;
  const failures = rehearsalFailures(i);
  return {
    exportId: i.exportId,
    ok: failures.length === 0,
    failures,
    rows: i.verify.rows,
    totalSeconds: i.totalMs / 1000,
    exportSeconds: i.exportMs / 1000,
    seedSeconds: i.seeded.seeded ? i.seeded.ms / 1000 : 0,
    partitions: { planned: i.plannedPartitions, final: i.ledger.partitions, splits: i.ledger.splits },
    interruptions: {
      notices: notices.length,
      kills: kills.length,
      fromHazard: notices.filter((f) => f.cause === "hazard").length,
      countedByController: i.pool?.interruptions ?? 0,
      replacements: i.pool?.replacements ?? 0,
    },
    moves: {
      total: moves.length,
      afterFault: afterFault.length,
      afterDrain: moves.filter((m) => m.fault === null && m.how === "released").length,
      reaped: moves.filter((m) => m.how === "reaped").length,
      partitionsMoved: new Set(moves.map((m) => m.partition)).size,
      faultToResume: spread(ms(afterFault, (m) => m.faultToResumeMs)),
      noticeToRelease: spread(
        ms(
          afterFault.filter((m) => m.fault?.kind === "notice"),
          (m) => m.faultToReleaseMs,
        ),
      ),
      noticeToResume: spread(
        ms(
          afterFault.filter((m) => m.fault?.kind === "notice"),
          (m) => m.faultToResumeMs,
        ),
      ),
      killToResume: spread(
        ms(
          afterFault.filter((m) => m.fault?.kind === "kill"),
          (m) => m.faultToResumeMs,
        ),
      ),
    },
    rework: {
      orphanObjects: orphans,
      uploadsAborted: aborted,
      chunksPerInterruption: i.faults.length ? (orphans + aborted) / i.faults.length : null,
      splitRereadsAtMost: i.ledger.splits,
    },
    rotation: {
      requested: i.rotatedAt !== null,
      generation,
      oldNodesDrained: i.nodes.filter((n) => n.generation < generation && n.drainingAt !== null).length,
      newNodes: i.nodes.filter((n) => n.generation === generation && i.rotatedAt !== null).length,
    },
    controller: { leaders: i.leaders, restarted: i.restartedAt !== null },
    cost: { usd: i.cost.costSoFar, nodeHours: i.cost.nodeHours, nodes: i.cost.nodes, spotUsd: i.cost.byMarket.spot },
    verify: {
      partitions: i.verify.partitions,
      rows: i.verify.rows,
      missing: i.verify.missing,
      duplicated: i.verify.duplicated,
      mismatched: i.verify.mismatched.length,
    },
    skippedFaults: i.skipped,
    oncall: i.oncall,
    iam: i.iam,
    nodeEnv: i.nodeEnv,
    ...(i.estimate ? { estimate: i.estimate } : {}),
  };
}

const s = (x: { n: number; medianS: number | null; maxS: number | null }) =>
  x.n === 0 ? "n/a" : `median ${x.medianS} s, max ${x.maxS} s (${x.n})`;

/** The short human report the demo prints. */
export function formatReport(r: RehearsalReport): string {
  const n = (v: number) => v.toLocaleString("en-US");
  const i = r.interruptions;
  const lines = [
    `rehearsal ${r.ok ? "PASSED" : `FAILED (${r.failures.join("; ")})`}: export ${r.exportId}`,
    `  rows            ${n(r.rows)} exported in ${r.exportSeconds.toFixed(1)} s (${n(Math.round(r.rows / Math.max(r.exportSeconds, 0.001)))} rows/s); ${r.totalSeconds.toFixed(0)} s in all`,
    `  partitions      ${r.partitions.planned} planned, ${r.partitions.final} at the end (${r.partitions.splits} split off for idle nodes)`,
    `  interruptions   ${i.notices} spot notices (${i.fromHazard} from the seeded hazard) + ${i.kills} hard kills survived; controller replaced ${i.countedByController}`,
    `  rotation        ${r.rotation.requested ? `generation ${r.rotation.generation}: ${r.rotation.oldNodesDrained} old nodes drained, replacement first` : "not requested"}`,
    `  controller      ${r.controller.restarted ? `crashed and taken over (${r.controller.leaders.join(" -> ")})` : r.controller.leaders.join(", ")}`,
    `  moves           ${r.moves.total} partition hand-overs (${r.moves.afterFault} after a fault, ${r.moves.afterDrain} after a drain, ${r.moves.reaped} reaped); ${r.moves.partitionsMoved} partitions moved`,
    `  notice->release ${s(r.moves.noticeToRelease)}`,
    `  notice->resume  ${s(r.moves.noticeToResume)}   kill->resume ${s(r.moves.killToResume)}`,
    "                  (resume = next claim by another node: it includes queueing behind pending work when nodes are busy)",
    `  rework          ${r.rework.orphanObjects} orphan chunk objects + ${r.rework.uploadsAborted} aborted uploads` +
      (r.rework.chunksPerInterruption === null ? "" : ` = ${r.rework.chunksPerInterruption.toFixed(2)} chunks per interruption`) +
      `; ${r.rework.splitRereadsAtMost} splits (<= 1 chunk re-read each)`,
    `  cost            ${formatUsd(r.cost.usd)} for ${r.cost.nodeHours.toFixed(3)} node-hours on ${r.cost.nodes} spot nodes (sim prices)`,
    ...(r.estimate ? estimateLines(r.estimate) : []),
    `  verify          ${r.verify.partitions} partitions, ${n(r.verify.rows)} rows: ${r.verify.missing} missing, ${r.verify.duplicated} duplicated, ${r.verify.mismatched} partitions with problems`,
  ];
  lines.push(...policyLines(r.iam));
  const env = r.nodeEnv;
  lines.push(
    `  node env        ${env.inspected && !env.leaks.length ? "ok  " : "FAIL"} ${env.inspected} live nodes read: ${env.leaks.length ? env.leaks.join(", ") : "no credentials, no secrets, keys from IMDS only"}`,
  );
  for (const c of r.oncall) lines.push(`  on call         ${c.ok ? "ok  " : "FAIL"} ${c.command} (exit ${c.exit}): ${c.detail}`);
  if (r.skippedFaults.length) lines.push(`  not injected    ${r.skippedFaults.join(", ")} (no busy node to hit in time)`);
  return `${lines.join("\n")}\n`;
}
