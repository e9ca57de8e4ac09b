import { z } from "zod";

/** A customer-managed KMS key that encrypts the secret: `spotferry iam policy` grants kms:Decrypt on it (via the service). */
const kmsKeyArn = z.string().regex(/^arn:aws[a-z-]*:kms:[^:]*:[^:]*:key\//, "must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)");

/**
 * Where a secret comes from. Secrets are never written inline in a config file: a literal string is refused
 * so that specs can be committed and logged safely.
 */
export const secretRef = z.union(
  [
    // The message never repeats the text: a password put where its variable's name goes must not reach a log.
    z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,254}$/, "is not an environment variable name") }).strict(),
    z
      .object({
        secretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:/, "must be a Secrets Manager ARN"),
        jsonKey: z.string().optional(),
        kmsKeyArn: kmsKeyArn.optional(),
      })
      .strict(),
    z
      .object({
        ssmParameter: z.string().regex(/^(arn:aws[a-z-]*:ssm:|\/)/, "must be an SSM parameter ARN or name"),
        kmsKeyArn: kmsKeyArn.optional(),
      })
      .strict(),
  ],
  { error: "expected { env: NAME }, { secretArn: ARN } or { ssmParameter: ARN }; inline secrets are not allowed" },
);
export type SecretRef = z.infer<typeof secretRef>;
