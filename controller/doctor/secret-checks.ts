import { describeError } from "../../lib/errors.ts";
import { resolveSecret } from "../../lib/secrets/resolve.ts";
import { type Check, fail, ok, skip } from "./types.ts";

/**
 * Each export's source password resolves (lib/secrets/resolve.ts: Secrets Manager GetSecretValue or SSM GetParameter
 * with decryption, the same call the agents make). The value is read and dropped: only the verdict and the
 * username/host an RDS secret carries are reported, never the password.
 */
export const secretsCheck: Check = {
  name: "secrets",
  async run(ctx) {
    if (ctx.input.exports.length === 0) return [skip("secrets", "no Export spec among the --config files")];
    return Promise.all(
      ctx.input.exports.map(async (e) => {
        const name = `secret ${e.name}`;
        const ref = e.source.password;
        if (!ref) return skip(name, "source.password is not set (the MySQL user has no password)");
        if ("env" in ref) {
          return skip(name, `source.password comes from $${ref.env} of the process that runs the export; not checked here`);
        }
        const where = "secretArn" in ref ? ref.secretArn : `SSM parameter ${ref.ssmParameter}`;
        try {
          const resolved = await resolveSecret(ref, { env: ctx.env, field: `export ${e.name}: source.password` });
          const extra = resolved.username
            ? ` (an RDS secret for user ${resolved.username}${resolved.host ? ` at ${resolved.host}` : ""})`
            : "";
          return ok(name, `${where} resolves${extra}`);
        } catch (err) {
          const text = describeError(err);
          const todo = /does not exist/.test(text)
            ? "create it, or fix source.password"
            : /access denied/.test(text)
              ? "grant this caller the read (`spotferry iam policy` grants it to both roles)"
              : "check the reference and the endpoint";
          return fail(name, `${text}; ${todo}`);
        }
      }),
    );
  },
};
