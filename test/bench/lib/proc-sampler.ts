/**
 * CPU and memory of processes from /proc, for benchmarks that measure other programs (the CLI, its agents, the local
 * stack's servers). A tree sampler walks a root process's descendants every 100 ms and keeps, per pid, its command
 * line, the last CPU time seen and the peak VmRSS; service snapshots read long-lived pids before and after a run.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, realpathSync } from "node:fs";

const TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null; // the process exited between listing and reading
  }
}

/** utime+stime (+ reaped children's) of a pid in seconds, or null when it is gone. */
export function cpuSeconds(pid: number, withChildren = true): number | null {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return null;
  // Fields after the command name, which may itself hold spaces and parentheses: state is field 3, utime 14.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const own = Number(f[11]) + Number(f[12]);
  return (withChildren ? own + Number(f[13]) + Number(f[14]) : own) / TICKS;
}

function rssMb(pid: number): number | null {
  const m = /VmRSS:\s+(\d+) kB/.exec(read(`/proc/${pid}/status`) ?? "");
  return m ? Number(m[1]) / 1024 : null;
}

function cmdline(pid: number): string {
  return (read(`/proc/${pid}/cmdline`) ?? "").split("\0").join(" ").trim();
}

function children(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const t of tasks) {
    for (const c of (read(`/proc/${pid}/task/${t}/children`) ?? "").split(" ")) if (c.trim()) out.push(Number(c));
  }
  return out;
}

export interface ProcFigures {
  pid: number;
  ppid: number;
  args: string;
  /** Last CPU time seen (own + reaped children), seconds. */
  cpu: number;
  /** Last CPU time seen of the process alone (sum these over a tree: a parent's `cpu` repeats its reaped children's). */
  cpuOwn: number;
  peakRssMb: number;
}

/** Samples `root` and every descendant every `everyMs` until stop(). */
export function sampleTree(root: number, everyMs = 100): { stop(): ProcFigures[] } {
  const seen = new Map<number, ProcFigures>();
  const tick = () => {
    const stack: [number, number][] = [[root, process.pid]];
    while (stack.length) {
      const [pid, ppid] = stack.pop() as [number, number];
      const cpu = cpuSeconds(pid);
      const own = cpuSeconds(pid, false);
      const rss = rssMb(pid);
      if (cpu === null || own === null) continue;
      let p = seen.get(pid);
      if (!p) {
        p = { pid, ppid, args: cmdline(pid), cpu, cpuOwn: own, peakRssMb: 0 };
        seen.set(pid, p);
      }
      // A pid first seen between fork and exec carries its parent's command line; take the program's once it runs.
      if (p.cpuOwn === 0) p.args = cmdline(pid) || p.args;
      p.cpu = Math.max(p.cpu, cpu);
      p.cpuOwn = Math.max(p.cpuOwn, own);
      if (rss !== null) p.peakRssMb = Math.max(p.peakRssMb, rss);
      for (const c of children(pid)) stack.push([c, pid]);
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return [...seen.values()];
    },
  };
}

/** Pids whose command line matches, for the long-lived servers of the local stack. */
export function findPids(match: (args: string) => boolean): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const args = cmdline(Number(d));
    if (args && match(args)) out.push(Number(d));
  }
  return out;
}

/** The local stack's servers by role, found by their command lines under the stack's home (`<root>/.spotferry`). */
export function stackServices(home: string): Record<string, number[]> {
  // The servers' command lines name the real path (a checkout may reach .spotferry through a symlink).
  const real = existsSync(home) ? realpathSync(home) : home;
  const mine = (a: string) => a.includes(home) || a.includes(real);
  return {
    mysqld: findPids((a) => mine(a) && /(^|\/)mariadbd\s/.test(a)),
    // Swift's servers and their workers; memcached (Swift's token cache) has no path on its command line.
    s3: findPids((a) => (mine(a) && /swift-(proxy|object|container|account)-server/.test(a)) || /^memcached .*-l 127\.0\.0\.1/.test(a)),
    dynamodb: findPids((a) => mine(a) && a.includes("DynamoDBLocal.jar")),
  };
}

/** CPU seconds per role, summed over its pids (own time only: these servers do not reap workers mid-run). */
export function snapshotCpu(services: Record<string, number[]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [role, pids] of Object.entries(services)) out[role] = pids.reduce((s, p) => s + (cpuSeconds(p, false) ?? 0), 0);
  return out;
}

export function diffCpu(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(after)) out[k] = (after[k] ?? 0) - (before[k] ?? 0);
  return out;
}
