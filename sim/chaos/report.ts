import type { ChaosReport, ExportFigures } from "./run.ts";
import { FAULT_KINDS } from "./schedule.ts";

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const n = (v: number) => v.toLocaleString("en-US");
const range = (ms: number[]) => (ms.length ? `${secs(Math.min(...ms))}..${secs(Math.max(...ms))}` : "-");

function exportLines(label: string, f: ExportFigures): string[] {
  const c = f.check;
  return [
    `${label}: export ${f.exportId}, ${f.partitions} partitions, ${secs(f.exportMs)}`,
    `  export verify: ${n(f.verify.rows)} rows, ${f.verify.missing} missing, ${f.verify.duplicated} duplicated, ${f.verify.mismatched} partitions differ`,
    `  independent check: ${n(c.objectRows)} rows in ${n(c.objects)} objects against ${n(c.sourceRows)} in MariaDB: ` +
      `${c.lost} lost, ${c.duplicated} duplicated, ${c.foreign} not in the source, ${c.corrupt.length} objects differ from the manifest`,
    `  left over: ${c.orphans.length} orphan objects, ${c.openUploads} open multipart uploads` +
      (f.finalize ? ` (finalize deleted ${f.finalize.orphansDeleted} orphans, aborted ${f.finalize.uploadsAborted} uploads)` : ""),
  ];
}

export function formatChaosReport(r: ChaosReport): string {
  const f = r.faults;
  const injected = FAULT_KINDS.reduce((s, k) => s + f.injected[k], 0);
  const lines = [
    `chaos run, seed ${r.seed}: ${n(r.rows)} rows, ${injected} of ${f.planned} planned faults injected`,
    ...FAULT_KINDS.map((k) => `  ${k.padEnd(16)} ${String(f.injected[k]).padStart(4)}`),
    `  zombies (frozen past their lease, then thawed): ${f.zombies}, ${f.zombiesFenced} seen giving up the lost lease; taken over after ${range(f.freezeTakeoverMs)}`,
    `  controller takeovers: ${f.controllerTakeoverMs.length}, after ${range(f.controllerTakeoverMs)}`,
    ...(f.notInjected.length ? [`  not injected (nothing to hit before the end): ${f.notInjected.join(", ")}`] : []),
    ...(r.clean ? exportLines("clean run", r.clean) : []),
    ...exportLines("chaos run", r.chaos),
    `time: ${secs(r.chaos.exportMs)} under chaos` +
      (r.clean && r.slowdown ? ` vs ${secs(r.clean.exportMs)} clean (x${r.slowdown.toFixed(2)})` : ""),
    `rows lost ${r.chaos.check.lost}, duplicated ${r.chaos.check.duplicated}: ${r.ok ? "PASSED" : "FAILED"}`,
  ];
  return `${lines.join("\n")}\n`;
}
