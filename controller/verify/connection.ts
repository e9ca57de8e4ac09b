import type { Command } from "commander";
import { type ExportSpec, sourceSpec } from "../../config/export-spec.ts";
import { formatIssues, loadConfigFile } from "../../config/load.ts";
import type { SecretRef } from "../../config/secret.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";

/**
 * Where `export verify` and `schedule verify` connect: the operator's command line or local export spec, never the
 * manifest in the bucket. Whoever can write the bucket could otherwise point verify at a server of their choosing
 * and have it send the operator's password there. The manifest still says what to compare (database, table, filter,
 * key and ranges); only the connection (host, port, user, password, tls) comes from here.
 */
export interface VerifyConnectionFlags {
  config?: string;
  host?: string;
  port?: string;
  user?: string;
  passwordEnv?: string;
  passwordSecret?: string;
  passwordSsm?: string;
  passwordJsonKey?: string;
  tls?: string;
  tlsCa?: string;
}

export function addVerifyConnectionOptions(cmd: Command): Command {
  return cmd
    .option("--config <file>", "the export spec: its source block gives host, port, user, password and tls")
    .option("--host <host>", "source host (overrides the spec's)")
    .option("--port <port>", "source port (default 3306)")
    .option("--user <user>", "source user")
    .option("--password-env <name>", "password from this environment variable")
    .option("--password-secret <arn>", "password from this Secrets Manager secret (string, or JSON with password)")
    .option("--password-json-key <key>", "with --password-secret: the JSON key holding the password")
    .option("--password-ssm <name>", "password from this SSM parameter (SecureString, decrypted)")
    .option("--tls <mode>", "TLS to the source: required | verify-ca | verify-full")
    .option("--tls-ca <file>", "CA bundle (PEM) for --tls verify-ca / verify-full");
}

function passwordFlag(f: VerifyConnectionFlags): SecretRef | undefined {
  const given = [f.passwordEnv, f.passwordSecret, f.passwordSsm].filter((v) => v !== undefined);
  if (given.length > 1)
    throw new UserError("pass only one of --password-env, --password-secret and --password-ssm", { exitCode: ExitCode.usage });
  if (f.passwordJsonKey !== undefined && f.passwordSecret === undefined)
    throw new UserError("--password-json-key goes with --password-secret", { exitCode: ExitCode.usage });
  if (f.passwordEnv !== undefined) return { env: f.passwordEnv };
  if (f.passwordSecret !== undefined)
    return { secretArn: f.passwordSecret, ...(f.passwordJsonKey !== undefined ? { jsonKey: f.passwordJsonKey } : {}) };
  if (f.passwordSsm !== undefined) return { ssmParameter: f.passwordSsm };
  return undefined;
}

/**
 * The source block to connect with: the manifest's (what to compare) with every connection field replaced by the
 * local spec's and then the flags'. Refused in one line when neither a spec nor --host is given, and when the
 * local spec names another table than the manifest.
 */
export async function verifySource(flags: VerifyConnectionFlags, manifestSource: ExportSpec["source"]): Promise<ExportSpec["source"]> {
  if (!flags.config && flags.host === undefined)
    throw new UserError(
      "verify needs the source connection from you, not from the bucket: pass --config FILE (the export spec) or --host/--user with --password-env, --password-secret or --password-ssm",
      { exitCode: ExitCode.usage },
    );
  const local = flags.config ? (await loadConfigFile(flags.config, "Export")).source : undefined;
  if (local && (local.database !== manifestSource.database || local.table !== manifestSource.table))
    throw new UserError(
      `${flags.config}: source ${local.database}.${local.table} is not the manifest's ${manifestSource.database}.${manifestSource.table}`,
      { exitCode: ExitCode.usage },
    );
  const password = passwordFlag(flags) ?? local?.password;
  const tls = flags.tls !== undefined ? { mode: flags.tls, ...(flags.tlsCa ? { caFile: flags.tlsCa } : {}) } : local?.tls;
  if (flags.tlsCa !== undefined && flags.tls === undefined) throw new UserError("--tls-ca goes with --tls", { exitCode: ExitCode.usage });
  const input = {
    ...manifestSource,
    host: flags.host ?? local?.host,
    port: flags.port !== undefined ? Number(flags.port) : local?.port,
    user: flags.user ?? local?.user,
    password,
    tls,
  };
  // Fields the operator did not give fall back to the schema's defaults, never to the manifest's.
  for (const k of ["host", "port", "user", "password", "tls"] as const) if (input[k] === undefined) delete input[k];
  const parsed = sourceSpec.safeParse(input);
  if (!parsed.success)
    throw new UserError(
      `verify connection (--config/--host/--port/--user/--password-*/--tls): ${formatIssues(parsed.error.issues, input).join("; ")}`,
      {
        exitCode: ExitCode.usage,
      },
    );
  return parsed.data;
}
