import { execFile } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import type { FleetStore } from "../../controller/store/fleet-store.ts";
import type { JobStore } from "../../lib/jobs/job-store.ts";
import { repoRoot } from "../stack/stack.ts";

/**
 * The on-call questions asked of the live rehearsal, through the real CLI exactly as an engineer types them (in their
 * own processes, with the rehearsal's sim as the EC2 endpoint), so `npm run demo` proves the commands work against a
 * running fleet and not only against a seeded store. `status` and `why` may exit 4: something needs a human.
 */
export interface OncallCheck {
  command: string;
  exit: number;
  ok: boolean;
  detail: string;
}

const run = promisify(execFile);
/** How long `logs` waits for a node to be up. */
const NODE_WAIT_MS = 90_000;

async function cli(args: string[], env: Record<string, string | undefined>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(repoRoot, "bin", "spotferry.mjs"), ...args], {
      env: env as NodeJS.ProcessEnv,
      timeout: 60_000,
      maxBuffer: 16 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? e.message };
  }
}

export async function checkOncall(opts: {
  env: Record<string, string | undefined>;
  stateTable: string;
  exportId: string;
  pool: string;
  /** Nodes up at this moment, best first, for `logs`; asked right before it runs (nodes come and go meanwhile). */
  pickNodes: () => Promise<string[]>;
}): Promise<OncallCheck[]> {
  const t = ["--state-table", opts.stateTable];
  const checks: { args: string[]; accept: number[]; judge: (out: string) => string | null }[] = [
    {
      args: ["status", "--json", ...t],
      accept: [0, 4],
      judge: (out) => (out.includes(opts.exportId) ? `shows ${opts.exportId}` : null),
    },
    {
      args: ["nodes", "--pool", opts.pool, "--json", ...t],
      accept: [0],
      judge: (out) => {
        const n = (out.match(/"instanceId"/g) ?? []).length;
        return n > 0 ? `${n} nodes` : null;
      },
    },
    { args: ["why", opts.exportId, ...t], accept: [0, 4], judge: (out) => (out.trim() ? out.trim().split("\n")[0]!.slice(0, 100) : null) },
    {
      args: ["partition", "show", opts.exportId, "0", ...t],
      accept: [0],
      judge: (out) => (/LEDGER/.test(out) ? "range, cursor and ledger" : null),
    },
  ];
  const results: OncallCheck[] = [];
  const ask = async (args: string[], accept: number[], judge: (out: string) => string | null) => {
    const r = await cli(args, opts.env);
    const verdict = accept.includes(r.code) ? judge(r.stdout) : null;
    return {
      command: `spotferry ${args.filter((a) => a !== opts.stateTable && a !== "--state-table").join(" ")}`,
      exit: r.code,
      ok: verdict !== null,
      detail: verdict ?? (r.stderr.trim().split("\n").at(-1) ?? "no output").slice(0, 200),
    } satisfies OncallCheck;
  };
  for (const c of checks) results.push(await ask(c.args, c.accept, c.judge));
  // `logs` on the best node up now; if it went away between the pick and the connection (a fault, the rotation),
  // the next one, picked afresh.
  let logs: OncallCheck | null = null;
  const tried = new Set<string>();
  // A small, fast rehearsal can be between nodes when the check comes (the last one draining, its replacement
  // booting): wait for one to be up rather than fail on the moment.
  const waitUntil = Date.now() + NODE_WAIT_MS;
  for (let attempt = 0; attempt < 3 && !logs?.ok; ) {
    const nodeId = (await opts.pickNodes()).find((id) => !tried.has(id));
    if (!nodeId) {
      if (Date.now() >= waitUntil) break;
      await sleep(500);
      continue;
    }
    attempt++;
    tried.add(nodeId);
    logs = await ask(["logs", nodeId, "--lines", "20", ...t], [0], (out) => {
      const lines = out.split("\n").filter(Boolean).length;
      return lines > 0 ? `${lines} lines of the agent log over ssh (host key from the console)` : null;
    });
  }
  results.push(logs ?? { command: "spotferry logs", exit: -1, ok: false, detail: "no node was up to read the log of" });
  return results;
}

/** A node the on-call can ask right now, and whether it holds a lease of the export. */
export interface OncallNode {
  instanceId: string;
  busy: boolean;
}

/**
 * Nodes that stay up for the next seconds, newest first: READY, not being retired by a rotation, running in the sim
 * with an sshd, and not hit by one of the rehearsal's faults.
 */
export async function oncallNodes(deps: {
  simUrl: string;
  fleet: FleetStore;
  jobs: JobStore;
  pool: string;
  exportId: string;
  faulted: ReadonlySet<string>;
}): Promise<OncallNode[]> {
  const status = (await (await fetch(`${deps.simUrl}/_sim/status`)).json()) as {
    instances: { instanceId: string; state: string; ssh?: unknown }[];
  };
  const reachable = new Set(status.instances.filter((i) => i.state === "running" && i.ssh).map((i) => i.instanceId));
  const { owners } = await deps.jobs.progress(deps.exportId);
  return (await deps.fleet.listNodes(deps.pool))
    .filter((n) => n.lifecycle === "READY" && n.retiringAt === null && reachable.has(n.instanceId) && !deps.faulted.has(n.instanceId))
    .sort((a, b) => b.launchedAt.localeCompare(a.launchedAt))
    .map((n) => ({ instanceId: n.instanceId, busy: (owners[n.instanceId] ?? 0) > 0 }));
}
