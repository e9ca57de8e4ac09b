import { createHash } from "node:crypto";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import { S3Client } from "@aws-sdk/client-s3";

/**
 * AWS clients built from the standard environment only: AWS_REGION, credentials, and the service-specific endpoint
 * variables (AWS_ENDPOINT_URL_S3, _DYNAMODB, _EC2, _MONITORING or _CLOUDWATCH). Nothing local is hard-coded here;
 * pointing the variables at the local stack is what makes these clients local.
 */
type Env = Record<string, string | undefined>;

const region = (env: Env) => env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1";
const endpointFor = (env: Env, ...names: string[]) => {
  for (const n of names) if (env[`AWS_ENDPOINT_URL_${n}`]) return env[`AWS_ENDPOINT_URL_${n}`];
  return env.AWS_ENDPOINT_URL;
};
/** Static keys from the given environment, else the SDK's default provider chain (profiles, instance role, ...). */
const credentials = (env: Env) =>
  env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
    ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN }
    : undefined;
const checksumMode = (v: string | undefined) => (v === "WHEN_REQUIRED" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED");

export function dynamoClient(env: Env = process.env): DynamoDBClient {
  return new DynamoDBClient({ region: region(env), endpoint: endpointFor(env, "DYNAMODB"), credentials: credentials(env), maxAttempts: 8 });
}

export function ec2Client(env: Env = process.env): EC2Client {
  return new EC2Client({ region: region(env), endpoint: endpointFor(env, "EC2"), credentials: credentials(env) });
}

export function cloudWatchClient(env: Env = process.env): CloudWatchClient {
  return new CloudWatchClient({
    region: region(env),
    endpoint: endpointFor(env, "MONITORING", "CLOUDWATCH"),
    credentials: credentials(env),
  });
}

export function s3Client(env: Env = process.env): S3Client {
  const endpoint = endpointFor(env, "S3");
  const client = new S3Client({
    region: region(env),
    endpoint,
    credentials: credentials(env),
    // Virtual-host addressing needs DNS for bucket names; custom endpoints are addressed by path.
    forcePathStyle: endpoint !== undefined || env.AWS_S3_FORCE_PATH_STYLE === "true",
    requestChecksumCalculation: checksumMode(env.AWS_REQUEST_CHECKSUM_CALCULATION),
    responseChecksumValidation: checksumMode(env.AWS_RESPONSE_CHECKSUM_VALIDATION),
  });
  // S3 accepts the flexible checksum on DeleteObjects; older S3-compatible stores (Swift s3api) insist on Content-MD5.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (context.commandName === "DeleteObjectsCommand" && request.headers && typeof request.body === "string") {
        request.headers["content-md5"] = createHash("md5").update(request.body).digest("base64");
      }
      return next(args);
    },
    { step: "build", name: "spotferryContentMd5", priority: "low" },
  );
  return client;
}
