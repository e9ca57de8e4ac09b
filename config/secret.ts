import { z } from "zod";

/**
 * Where a secret comes from. Secrets are never written inline in a config file: a literal string is refused
 * so that specs can be committed and logged safely.
 */
export const secretRef = z.union(
  [
    z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name") }).strict(),
    z
      .object({
        secretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:/, "must be a Secrets Manager ARN"),
        jsonKey: z.string().optional(),
      })
      .strict(),
    z.object({ ssmParameter: z.string().regex(/^(arn:aws[a-z-]*:ssm:|\/)/, "must be an SSM parameter ARN or name") }).strict(),
  ],
  { error: "expected { env: NAME }, { secretArn: ARN } or { ssmParameter: ARN }; inline secrets are not allowed" },
);
export type SecretRef = z.infer<typeof secretRef>;
