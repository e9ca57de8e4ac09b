import { createHash } from "node:crypto";
import { S3Client } from "@aws-sdk/client-s3";
import { checksumMode, credentials, type Env, endpointFor, profile, region } from "./env.ts";

export function s3Client(env: Env = process.env): S3Client {
  const endpoint = endpointFor(env, "S3");
  const client = new S3Client({
    region: region(env),
    profile: profile(env),
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
