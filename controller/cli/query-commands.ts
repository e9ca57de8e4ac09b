import type { Command } from "commander";
import { s3Client } from "../../lib/aws/s3.ts";
import { dataFormat, emitData, outputFormat } from "../../lib/cli/output.ts";
import { runCommand } from "../../lib/cli/run.ts";
import { describeError, ExitCode, UserError } from "../../lib/errors.ts";
import { putOutputObject } from "../../lib/output/sse.ts";
import { buildDdl } from "../query/ddl.ts";
import { downloadObjects, ObjectMismatch } from "../query/fetch.ts";
import { renderColumns } from "../query/render.ts";
import { NotQueryable, resolveExport } from "../query/resolve.ts";
import { runQuery, SqlError } from "../query/run-query.ts";
import { ENGINES, type Engine } from "../query/types.ts";
import { type CommonFlags, withCommon, withStores } from "./oncall-shared.ts";

/**
 * `query ID|NAME "SQL"`: DuckDB over exactly the manifest's objects (downloaded, checked, deleted afterwards), the
 * export being the view `export`. `ddl ID|NAME --engine E`: the CREATE statement for Athena, Redshift Spectrum, Spark
 * or DuckDB over the same objects; for Athena and Redshift it writes the file list they read next to the manifest.
 * Unknown or unfinished exports and bad SQL exit 2 (usage), an unreachable S3 or DynamoDB 3, a damaged object 4.
 */
const NETWORK = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ECONNRESET", "EPIPE"]);

function unreachable(err: unknown): boolean {
  for (let e: unknown = err, i = 0; e && i < 10; i++) {
    const x = e as { code?: string; name?: string; message?: string; cause?: unknown; errors?: unknown[] };
    if ((x.code && NETWORK.has(x.code)) || x.name === "TimeoutError" || x.name === "CredentialsProviderError") return true;
    if (Array.isArray(x.errors) && x.errors.some(unreachable)) return true;
    e = x.cause;
  }
  return false;
}

/** Maps what can go wrong to the documented exit codes, one line each. */
function classify(err: unknown): unknown {
  if (err instanceof UserError) return err;
  if (err instanceof NotQueryable || err instanceof SqlError) return new UserError(err.message, { exitCode: ExitCode.usage });
  if (err instanceof ObjectMismatch) return new UserError(err.message, { exitCode: ExitCode.checkFailed });
  if (unreachable(err))
    return new UserError(`S3 or DynamoDB unreachable: ${describeError(err)}`, { exitCode: ExitCode.unavailable, cause: err });
  return err;
}

const guarded = (body: () => Promise<unknown>) =>
  runCommand(async () => {
    try {
      return await body();
    } catch (err) {
      throw classify(err);
    }
  });

function engineFlag(text: string): Engine {
  if (!(ENGINES as readonly string[]).includes(text)) {
    throw new UserError(`--engine: expected one of ${ENGINES.join("|")}, got ${JSON.stringify(text)}`, { exitCode: ExitCode.usage });
  }
  return text as Engine;
}

function tableFlag(text: string | undefined, engine: Engine): string | undefined {
  if (text === undefined) return undefined;
  const ok = engine === "duckdb" ? /^[A-Za-z_][A-Za-z0-9_]*$/ : /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
  if (!ok.test(text)) {
    throw new UserError(
      `--table: expected a table name (letters, digits, _; schema.table allowed except for duckdb), got ${JSON.stringify(text)}`,
      {
        exitCode: ExitCode.usage,
      },
    );
  }
  return text;
}

export function registerQueryCommands(program: Command): void {
  withCommon(program.command("query"))
    .description("run SQL (DuckDB) over exactly the manifest's objects of an export; the export is the table `export`")
    .argument("<ref>", "export id, or spec name (its latest export)")
    .argument("<sql>", 'SQL text, e.g. "SELECT count(*) FROM export"')
    .action((ref: string, sql: string, flags: CommonFlags) =>
      guarded(() =>
        withStores(flags, async (d) => {
          const s3 = s3Client();
          try {
            const { manifest } = await resolveExport({ jobs: d.jobs, s3, tableName: d.tableName }, ref);
            const copy = await downloadObjects(s3, manifest);
            try {
              const result = await runQuery({ manifest, copy, sql });
              const records = result.rows.map((r) => Object.fromEntries(result.columns.map((c, i) => [c, r[i]])));
              if (!(await emitData(flags, records))) process.stdout.write(renderColumns(result.columns, result.types, result.rows));
            } finally {
              copy.cleanup();
            }
          } finally {
            s3.destroy();
          }
        }),
      ),
    );

  withCommon(program.command("ddl"))
    .description("print a CREATE statement (athena|redshift|spark|duckdb) with exact types over exactly the manifest's objects")
    .argument("<ref>", "export id, or spec name (its latest export)")
    .requiredOption("--engine <engine>", ENGINES.join("|"))
    .option("--table <name>", "table name (default: the spec's name, '-' as '_'; redshift: spectrum.<name>)")
    .action((ref: string, flags: CommonFlags & { engine: string; table?: string }) =>
      guarded(async () => {
        const engine = engineFlag(flags.engine);
        const table = tableFlag(flags.table, engine);
        return withStores(flags, async (d) => {
          const s3 = s3Client();
          try {
            const { manifest } = await resolveExport({ jobs: d.jobs, s3, tableName: d.tableName }, ref);
            const asData = dataFormat(outputFormat(flags)) !== null;
            let ddl: ReturnType<typeof buildDdl>;
            try {
              ddl = buildDdl({ manifest, engine, table });
            } catch (err) {
              throw new UserError((err as Error).message, { exitCode: ExitCode.usage });
            }
            for (const o of ddl.objects) {
              await putOutputObject(s3, {
                bucket: manifest.bucket,
                key: o.key,
                body: o.body,
                contentType: o.contentType,
                sse: manifest.spec.destination.sse,
              });
              if (!asData) process.stderr.write(`wrote s3://${manifest.bucket}/${o.key} (the file list the statement reads)\n`);
            }
            const data = { exportId: manifest.exportId, engine, statement: ddl.statement, objects: ddl.objects.map((o) => o.key) };
            if (!(await emitData(flags, data))) process.stdout.write(ddl.statement);
          } finally {
            s3.destroy();
          }
        });
      }),
    );
}
