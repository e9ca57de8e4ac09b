import type { Command } from "commander";
import type { ExportState } from "../../config/records.ts";
import { painter } from "../../lib/cli/color.ts";
import { durationFlag, intFlag } from "../../lib/cli/flags.ts";
import { emitData, isWide, outputFormat } from "../../lib/cli/output.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { findNode } from "../oncall/reads.ts";
import { readStatus, type StatusOptions, type StatusSnapshot } from "../oncall/status.ts";
import { renderExports, renderNode, renderNodes, renderStatus } from "./oncall-render.ts";
import { type CommonFlags, thresholds, withCommon, withStores, withThresholds } from "./oncall-shared.ts";

/**
 * Read-only on-call commands: `status` (and `watch`), `exports`, `nodes`, `node show`. They all read one snapshot
 * (controller/oncall/status.ts) so they never disagree. `status` exits 4 when something needs a human, so
 * `spotferry status -o json >/dev/null || page-someone` works.
 */

type StatusFlags = CommonFlags & { stallMinutes?: string; heartbeatTimeout?: string; watch?: boolean; interval?: string };

const EXPORT_STATES: ExportState[] = ["PLANNING", "RUNNING", "FINALIZING", "SUCCEEDED", "FAILED", "CANCELLED"];

/** The JSON shape of `status`: the snapshot without per-partition arrays (those are for charts; see `export show`). */
export function statusJson(s: StatusSnapshot) {
  return { ...s, exports: s.exports.map(({ fractions: _f, completions: _c, ...e }) => e) };
}

async function watchLoop(flags: StatusFlags, options: StatusOptions): Promise<never> {
  const seconds = durationFlag("--interval", flags.interval ?? "5", { min: 1, max: 3600 });
  const out = process.stdout;
  let stop = false;
  process.once("SIGINT", () => {
    stop = true;
  });
  // Alternate screen: the view is redrawn in place and the terminal is restored on exit.
  if (out.isTTY) out.write("\x1b[?1049h\x1b[?25l");
  try {
    while (!stop) {
      let frame: string;
      try {
        frame = await withStores(flags, async (d) =>
          renderStatus((await readStatus(d, options)).snapshot, d.clock.now(), { wide: isWide(flags), paint: painter(out) }),
        );
      } catch (err) {
        frame = `reading the state table failed (retrying in ${seconds}s): ${(err as Error).message}\n`;
      }
      out.write(out.isTTY ? `\x1b[H\x1b[2J${frame}\n(every ${seconds}s; Ctrl-C to quit)` : `${frame}\n`);
      for (let i = 0; i < seconds * 10 && !stop; i++) await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    if (out.isTTY) out.write("\x1b[?25h\x1b[?1049l");
  }
  process.exit(0);
}

export function registerOncallCommands(program: Command): void {
  const statusAction = (forceWatch: boolean) => (flags: StatusFlags) =>
    runCommand(async () => {
      const options = thresholds(flags);
      if (forceWatch || flags.watch) {
        const format = outputFormat(flags);
        if (format === "json" || format === "yaml") {
          throw new UserError(`-o ${format} cannot be combined with --watch`, { exitCode: ExitCode.usage });
        }
        return watchLoop(flags, options);
      }
      return withStores(flags, async (d) => {
        const { snapshot } = await readStatus(d, options);
        if (!(await emitData(flags, statusJson(snapshot)))) {
          process.stdout.write(renderStatus(snapshot, d.clock.now(), { wide: isWide(flags), paint: painter(process.stdout) }));
        }
        return snapshot.attention.length ? ExitCode.checkFailed : ExitCode.ok;
      });
    });

  withThresholds(withCommon(program.command("status")))
    .option("-w, --watch", "redraw in place every --interval seconds until Ctrl-C")
    .option("--interval <s>", "refresh interval for --watch", "5")
    .action(statusAction(false));

  withThresholds(withCommon(program.command("watch")))
    .option("--interval <s>", "refresh interval", "5")
    .action(statusAction(true));

  withCommon(program.command("exports"))
    .option("--state <state>", `only exports in this state (${EXPORT_STATES.join("|")})`)
    .option("--limit <n>", "newest exports to list", "20")
    .action((flags: CommonFlags & { state?: string; limit: string }) =>
      runCommand(async () => {
        const state = flags.state?.toUpperCase() as ExportState | undefined;
        if (state && !EXPORT_STATES.includes(state)) {
          throw new UserError(`--state: expected one of ${EXPORT_STATES.join("|")}, got "${flags.state}"`, { exitCode: ExitCode.usage });
        }
        const limit = intFlag("--limit", flags.limit, { min: 1, max: 100_000 });
        await withStores(flags, async (d) => {
          const listed = await d.jobs.listExports({ limit, state });
          const { snapshot } = await readStatus(d, { exportIds: listed.map((e) => e.exportId) });
          const rows = statusJson(snapshot).exports;
          if (!(await emitData(flags, rows))) process.stdout.write(renderExports(snapshot.exports, { wide: isWide(flags) }));
        });
      }),
    );

  withCommon(program.command("nodes"))
    .option("--pool <pool>", "only this pool")
    .option("--all", "include TERMINATED nodes")
    .action((flags: CommonFlags & { pool?: string; all?: boolean }) =>
      runCommand(() =>
        withStores(flags, async (d) => {
          if (flags.pool && !(await d.fleet.getPool(flags.pool))) throw new UserError(`pool ${flags.pool} not found`);
          const { snapshot } = await readStatus(d);
          const nodes = snapshot.nodes.filter((n) => (!flags.pool || n.pool === flags.pool) && (flags.all || n.lifecycle !== "TERMINATED"));
          if (!(await emitData(flags, nodes))) process.stdout.write(renderNodes(nodes, { wide: isWide(flags) }));
        }),
      ),
    );

  withCommon(program.command("node").command("show"))
    .description("one node: lifecycle, instance, heartbeat, partitions held, rows/s, cost so far")
    .argument("<id>", "instance id")
    .option("--pool <pool>", "its pool (default: searched in every pool)")
    .action((id: string, flags: CommonFlags & { pool?: string }) =>
      runCommand(() =>
        withStores(flags, async (d) => {
          const record = await findNode(d.fleet, id, flags.pool);
          if (!record) throw new UserError(`node ${id} not found${flags.pool ? ` in pool ${flags.pool}` : ""}`);
          const { snapshot } = await readStatus(d);
          const n = snapshot.nodes.find((x) => x.instanceId === id);
          if (!n) throw new UserError(`node ${id} vanished while it was being read; try again`);
          if (!(await emitData(flags, { ...n, record }))) process.stdout.write(renderNode(n, d.clock.now()));
        }),
      ),
    );
}
