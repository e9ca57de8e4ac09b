import type { Command } from "commander";
import mysql from "mysql2/promise";
import { createCallLog } from "../../sim/data/call-log.ts";
import { stackHome, stackUp } from "../../sim/stack/stack.ts";
import { runCommand } from "./run.ts";

const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * The local rehearsal. It brings the stack up and seeds the call-log table; the export itself is added once the
 * agent and controller exist, and until then the command says so rather than pretending to export.
 */
export function registerDemoCommands(program: Command): void {
  program
    .command("demo")
    .description("the local rehearsal: start the stack, seed a call-log table and export it on a simulated spot fleet")
    .option("--rows <n>", "rows in the generated call-log table", (v) => Number(v), 1_000_000)
    .action((opts: { rows: number }) =>
      runCommand(async () => {
        const { env } = await stackUp({ home: stackHome(), log });
        const conn = await mysql.createConnection({
          host: env.SPOTFERRY_MYSQL_HOST,
          port: Number(env.SPOTFERRY_MYSQL_PORT),
          user: env.SPOTFERRY_MYSQL_USER,
          password: env.SPOTFERRY_MYSQL_PASSWORD,
        });
        try {
          const t0 = Date.now();
          await createCallLog(conn, {
            database: "spotferry_demo",
            rows: opts.rows,
            onProgress: (done) =>
              log(`seeding spotferry_demo.call_log: ${done.toLocaleString("en-US")} / ${opts.rows.toLocaleString("en-US")} rows`),
          });
          log(`seeded ${opts.rows.toLocaleString("en-US")} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        } finally {
          await conn.end();
        }
        process.stdout.write(
          [
            "",
            "The local stack is up and spotferry_demo.call_log is seeded (sparse ids, some above 2^53, skewed customers).",
            "Not yet built, so not run (no export has happened):",
            "  - plan the table into key-range partitions in DynamoDB        (issue: job store)",
            "  - start agents that stream partitions to S3 as Parquet         (issue: agent)",
            "  - provision a spot fleet in sim/, interrupt and rotate it      (issues: sim, controller)",
            "  - verify every source row landed in S3 exactly once            (issue: agent)",
            "Stop the stack with: npx spotferry local down",
            "",
          ].join("\n"),
        );
      }),
    );
}
