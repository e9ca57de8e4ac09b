/**
 * Credentials of the local stack. They are not secrets: the S3 store's test account and a region. DynamoDB Local
 * accepts any key. They are written to `.spotferry/local.env` for clients to use like real AWS settings.
 */
export const LOCAL_CREDENTIALS = {
  AWS_REGION: "us-east-1",
  // Alphanumeric because DynamoDB Local rejects anything else; Swift maps it to its tempauth user (swift_keyalias.py).
  AWS_ACCESS_KEY_ID: "spotferrylocal",
  AWS_SECRET_ACCESS_KEY: "testing",
  // Swift's s3api rejects the SDK's default streamed trailing checksums (501); real AWS keeps the defaults.
  AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
  AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
} as const;
