/**
 * Settings of the AWS clients, built from the standard environment only: AWS_REGION, credentials, and the
 * service-specific endpoint variables (AWS_ENDPOINT_URL_S3, _DYNAMODB, _EC2, _MONITORING or _CLOUDWATCH, _SECRETS_MANAGER, _SSM, _IAM, _STS). Nothing local is hard-coded here;
 * pointing the variables at the local stack is what makes these clients local. One module per client under lib/aws/,
 * so a process loads only the SDKs it uses (the agent needs S3 and DynamoDB, not EC2 or CloudWatch: -80 MB RSS).
 */
export type Env = Record<string, string | undefined>;

export const region = (env: Env) => env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1";
export const endpointFor = (env: Env, ...names: string[]) => {
  for (const n of names) if (env[`AWS_ENDPOINT_URL_${n}`]) return env[`AWS_ENDPOINT_URL_${n}`];
  return env.AWS_ENDPOINT_URL;
};
/** Static keys from the given environment, else the SDK's default provider chain (profiles, instance role, ...). */
export const credentials = (env: Env) =>
  env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
    ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN }
    : undefined;
export const checksumMode = (v: string | undefined) => (v === "WHEN_REQUIRED" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED");
