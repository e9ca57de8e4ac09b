import type { EventRecord, PartitionRecord } from "../../config/records.ts";
import { ago, duration, num, pct, rate } from "./format.ts";
import { partKey, type StatusWorld } from "./status.ts";

/**
 * `spotferry why`: a plain-language diagnosis of an export or one partition, from the snapshot and the ledger.
 * `stuck` is false only when the subject is finished or visibly making progress; the CLI exits 4 otherwise.
 */
export interface Diagnosis {
  subject: string;
  stuck: boolean;
  /** One short verdict, then supporting lines. */
  verdict: string;
  details: string[];
}

export function whyExport(w: StatusWorld, exportId: string, now: number): Diagnosis {
  const e = w.snapshot.exports.find((x) => x.exportId === exportId);
  const rec = w.records.get(exportId);
  if (!e || !rec) throw new Error(`export ${exportId} not found`);
  const subject = `export ${exportId}`;
  const parts = w.partitions.get(exportId) ?? [];
  const details: string[] = [];
  const progress = `${pct(e.percent)} done, ${num(e.rows)} of ${num(e.estimatedRows)} rows`;
  if (e.state === "SUCCEEDED")
    return {
      subject,
      stuck: false,
      verdict: `finished ${ago(rec.updatedAt, now)}: ${num(e.rows)} rows`,
      details: rec.manifestKey ? [`manifest: ${rec.manifestKey}`] : [],
    };
  if (e.state === "CANCELLED") {
    const leased = parts.filter((p) => p.state === "LEASED");
    if (leased.length)
      details.push(`${leased.length} partition(s) still leased; their agents stop at the next chunk boundary and park them`);
    details.push(`${progress} when cancelled; nothing more will be exported`);
    return { subject, stuck: true, verdict: `cancelled ${ago(rec.updatedAt, now)}${rec.error ? ` (${rec.error})` : ""}`, details };
  }
  if (e.state === "FAILED") {
    return { subject, stuck: true, verdict: `failed ${ago(rec.updatedAt, now)}: ${rec.error ?? "no error recorded"}`, details: [progress] };
  }
  if (e.state === "FINALIZING") {
    const leader = w.snapshot.leader;
    if (!leader || leader.expiresAt < now)
      details.push(
        "no controller holds the leader lease, so nobody is finalizing it: run `spotferry controller run --config controller.yaml`",
      );
    return { subject, stuck: details.length > 0, verdict: `every partition is done; finalizing since ${ago(rec.updatedAt, now)}`, details };
  }

  // RUNNING (or PLANNING): everything that keeps work from moving, worst first.
  const holders = new Set(w.snapshot.nodes.filter((n) => n.partitions.some((x) => x.startsWith(`${exportId}/`))).map((n) => n.instanceId));
  const mine = w.snapshot.attention.filter(
    (a) =>
      a.exportId === exportId ||
      (a.kind === "no-nodes" && a.pool === e.pool) ||
      (a.kind === "not-heartbeating" && a.node !== undefined && holders.has(a.node)) ||
      a.kind === "no-controller",
  );
  for (const a of mine) details.push(a.message.replace(`export ${exportId}: `, "").replace(`export ${exportId} `, ""));
  const backoff = parts.filter((p) => p.state === "PENDING" && p.notBefore && Date.parse(p.notBefore) > now);
  if (backoff.length) {
    const soonest = backoff.map((p) => p.notBefore as string).sort()[0] ?? null;
    details.push(`${backoff.length} partition(s) in retry backoff after failures; the first is claimable again ${ago(soonest, now)}`);
  }
  const deadOwners = ownersNotLive(w, parts);
  for (const [owner, info] of deadOwners)
    details.push(`partitions ${info.partitions.join(", ")} are leased by ${owner}, which is ${info.state}`);
  const stuck =
    mine.length > 0 || deadOwners.size > 0 || (backoff.length > 0 && backoff.length === e.partitions.PENDING && e.partitions.LEASED === 0);
  const eta = e.etaSeconds === null ? "no ETA yet" : `ETA ${duration(e.etaSeconds)}`;
  const verdict = stuck
    ? `${details.length} problem${details.length > 1 ? "s" : ""} holding it up (${progress})`
    : e.rowsPerSec > 0
      ? `making progress: ${progress} at ${rate(e.rowsPerSec)} rows/s, ${eta}`
      : `waiting for work to start: ${progress}, ${e.partitions.PENDING} pending, ${e.partitions.LEASED} leased`;
  return {
    subject,
    stuck,
    verdict,
    details: stuck ? details : [...details, `${e.partitions.LEASED} leased, ${e.partitions.PENDING} pending, ${e.partitions.DONE} done`],
  };
}

function ownersNotLive(w: StatusWorld, parts: PartitionRecord[]): Map<string, { state: string; partitions: number[] }> {
  const out = new Map<string, { state: string; partitions: number[] }>();
  for (const p of parts) {
    if (p.state !== "LEASED" || !p.owner) continue;
    const node = w.nodeRecords.find((n) => n.instanceId === p.owner);
    // Owners that are not fleet nodes (local `export run`, tests) are judged by their lease alone.
    if (!node || node.lifecycle === "READY" || node.lifecycle === "LAUNCHING" || node.lifecycle === "DRAINING") continue;
    const entry = out.get(p.owner) ?? { state: `${node.lifecycle}${node.reason ? ` (${node.reason})` : ""}`, partitions: [] };
    entry.partitions.push(p.partition);
    out.set(p.owner, entry);
  }
  return out;
}

const endings = new Set(["released", "interrupted", "reaped", "revoked", "failed", "quarantined", "completed"]);
/** Ways a holder lost a partition it did not hand back itself (or handed back on a spot notice). */
const losses = new Set(["interrupted", "reaped", "revoked"]);

/** How the last involuntary hand-over went; a revoke is the controller's act, so it names the former owner. */
function lastOwnerLine(e: EventRecord): string {
  if (e.kind === "reaped") return `last owner ${e.node ?? "unknown"} lost its lease (reaped) at ${e.at}`;
  if (e.kind === "revoked") {
    const how = e.interrupted ? "was interrupted; its lease was" : "had its lease";
    return `last owner ${e.formerOwner ?? "unknown"} ${how} revoked by ${e.node ?? "the controller"} at ${e.at}`;
  }
  return `last owner ${e.node ?? "unknown"} was interrupted at ${e.at}`;
}

const endedBy = (e: EventRecord) =>
  e.kind === "revoked" ? `revoked by ${e.node ?? "?"} from ${e.formerOwner ?? "?"}` : `${e.kind} by ${e.node ?? "?"}`;

/** Who held the partition and how each holding ended, from the ledger (oldest first). */
export function ledgerStory(events: EventRecord[]): string[] {
  const lines: string[] = [];
  let claims = 0;
  const ended: Record<string, number> = {};
  for (const e of events) {
    if (e.kind === "claimed") claims++;
    if (endings.has(e.kind)) ended[e.kind] = (ended[e.kind] ?? 0) + 1;
  }
  if (claims) {
    const owners = new Set(events.filter((e) => e.kind === "claimed").map((e) => e.node));
    const how = Object.entries(ended)
      .map(([k, c]) => `${k} ${c}x`)
      .join(", ");
    lines.push(
      `claimed ${claims} time${claims > 1 ? "s" : ""} by ${owners.size} node${owners.size > 1 ? "s" : ""}${how ? `; ${how}` : ""}`,
    );
  }
  return lines;
}

/** What every branch of whyPartition tells, worked out once from the partition and its ledger. */
interface PartitionFacts {
  w: StatusWorld;
  p: PartitionRecord;
  now: number;
  subject: string;
  /** The ledger's story (ledgerStory). */
  history: string[];
  /** How the last involuntary hand-over went, if there was one. */
  owner: string | null;
  /** The rows and chunks committed so far. */
  done: string;
}

export function whyPartition(w: StatusWorld, p: PartitionRecord, events: EventRecord[], now: number): Diagnosis {
  const exp = w.records.get(p.exportId);
  const lastEnd = [...events].reverse().find((e) => endings.has(e.kind) && e.kind !== "completed");
  const lastInterruption = [...events].reverse().find((e) => losses.has(e.kind));
  const f: PartitionFacts = {
    w,
    p,
    now,
    subject: `partition ${p.partition} of export ${p.exportId}`,
    history: ledgerStory(events),
    owner: lastInterruption ? lastOwnerLine(lastInterruption) : null,
    done: `${num(p.rows)} rows in ${p.chunks} chunks`,
  };

  if (p.state === "DONE")
    return { subject: f.subject, stuck: false, verdict: `done ${ago(p.updatedAt, now)}: ${f.done}`, details: f.history };
  if (exp && exp.state !== "RUNNING" && exp.state !== "PLANNING") {
    const parked = p.state === "PENDING" ? "parked off the claim queue" : "its holder will park it at the next chunk boundary";
    return {
      subject: f.subject,
      stuck: true,
      verdict: `export is ${exp.state}${exp.error ? ` (${exp.error})` : ""}: ${parked}`,
      details: [`${f.done} committed`, ...f.history],
    };
  }
  if (p.state === "QUARANTINED") return whyQuarantined(f);
  if (p.state === "PENDING") return whyPending(f, lastEnd);
  return whyLeased(f);
}

function whyQuarantined({ p, subject, history, owner, done }: PartitionFacts): Diagnosis {
  const verdict = [
    `quarantined after ${p.attempts} attempt${p.attempts === 1 ? "" : "s"}`,
    `last error: ${p.lastError ?? "none recorded"}`,
    ...(owner ? [owner] : []),
  ].join("; ");
  return {
    subject,
    stuck: true,
    verdict,
    details: [
      ...history,
      `${done} committed (kept: a retry resumes after the cursor)`,
      `to try again: spotferry retry ${p.exportId} ${p.partition}`,
    ],
  };
}

/** `lastEnd`: the last holding that ended other than by completing. */
function whyPending({ w, p, now, subject, history, owner, done }: PartitionFacts, lastEnd: EventRecord | undefined): Diagnosis {
  if (p.notBefore && Date.parse(p.notBefore) > now) {
    const verdict = `in backoff after attempt ${p.attempts} failed (${p.lastError ?? "no error recorded"}); claimable again ${ago(p.notBefore, now)}`;
    return { subject, stuck: true, verdict, details: [...history, ...(owner ? [owner] : [])] };
  }
  const pool = w.snapshot.pools.find((x) => x.pool === p.pool);
  const ready = pool ? pool.nodes.READY : 0;
  if (!ready) {
    const launching = pool?.nodes.LAUNCHING ?? 0;
    const verdict = launching
      ? `waiting for a node: pool ${p.pool} has ${launching} node(s) still launching and none ready`
      : `no nodes in pool ${p.pool} to claim it${pool ? ` (desired ${pool.desiredSize}, max ${pool.max})` : " (the pool does not exist: apply it with `spotferry pool apply`)"}`;
    return {
      subject,
      stuck: true,
      verdict,
      details: [...history, ...(owner ? [owner] : []), `${done} committed; the next owner resumes after the cursor`],
    };
  }
  const last = lastEnd ? `; last holding ended: ${endedBy(lastEnd)} ${ago(lastEnd.at, now)}` : "";
  return {
    subject,
    stuck: false,
    verdict: `pending, claimable now: ${ready} ready node(s) in pool ${p.pool} will pick it up${last}`,
    details: history,
  };
}

function whyLeased({ w, p, now, subject, history, done }: PartitionFacts): Diagnosis {
  const node = w.nodeRecords.find((n) => n.instanceId === p.owner);
  const r = w.rates.get(partKey(p.exportId, p.partition));
  const expiredFor = p.leaseExpiresAt ? (now - Date.parse(p.leaseExpiresAt)) / 1000 : 0;
  if (expiredFor > 0) {
    const verdict = `leased by ${p.owner} whose lease expired ${ago(p.leaseExpiresAt, now)} and was not reaped yet${expiredFor > w.settings.skewMarginSec ? ": the reaper runs in the controller; is it running?" : " (inside the reaper's skew margin)"}`;
    return { subject, stuck: true, verdict, details: [...history, `${done} committed; the next owner resumes after the cursor`] };
  }
  if (node && node.lifecycle !== "READY" && node.lifecycle !== "LAUNCHING" && node.lifecycle !== "DRAINING") {
    const verdict = `leased by ${node.instanceId}, which is ${node.lifecycle}${node.reason ? ` (${node.reason})` : ""}; the lease expires ${ago(p.leaseExpiresAt, now)}, then it is reaped and resumed elsewhere`;
    return { subject, stuck: true, verdict, details: history };
  }
  const status = w.snapshot.nodes.find((n) => n.instanceId === p.owner);
  if (status && status.heartbeatAgeSec !== null && status.heartbeatAgeSec > w.settings.heartbeatTimeoutSec) {
    return {
      subject,
      stuck: true,
      verdict: `leased by ${p.owner}, which has not heartbeated for ${duration(status.heartbeatAgeSec)}`,
      details: history,
    };
  }
  const since = r?.lastCheckpointAt ?? r?.claimedAt ?? null;
  const idle = since ? (now - Date.parse(since)) / 1000 : 0;
  if (idle > w.settings.stallMinutes * 60) {
    return {
      subject,
      stuck: true,
      verdict: `leased by ${p.owner} (lease renewed) but no chunk committed for ${duration(idle)}: the source query may be slow or wedged`,
      details: [...history, `try: spotferry logs ${p.owner}`],
    };
  }
  const draining = node?.lifecycle === "DRAINING" ? "; the node is draining and will release it after this chunk" : "";
  return {
    subject,
    stuck: false,
    verdict: `running on ${p.owner} at ${rate(r?.rowsPerSec ?? 0)} rows/s, last chunk ${ago(r?.lastCheckpointAt ?? null, now)}${draining}`,
    details: [...history, `${done} committed`],
  };
}
