import assert from "node:assert/strict";
import { test } from "node:test";
import type { AuthorizationRequest, PolicyDocument, PolicyStatement } from "../../lib/iam/policy-document.ts";
import { type Decision, evaluate } from "../../sim/iam/evaluate.ts";

/** IAM evaluation, table-driven: one statement (or a few) against one request, and the decision AWS would reach. */
const doc = (...Statement: PolicyStatement[]): PolicyDocument => ({ Version: "2012-10-17", Statement });
const allow = (st: Omit<PolicyStatement, "Effect">): PolicyStatement => ({ Effect: "Allow", ...st });
const deny = (st: Omit<PolicyStatement, "Effect">): PolicyStatement => ({ Effect: "Deny", ...st });
const INSTANCE = "arn:aws:ec2:us-east-1:000000000000:instance/i-0abc";

const cases: [string, PolicyDocument[], AuthorizationRequest, Decision][] = [
  ["no policy at all", [], { action: "ec2:RunInstances", resource: "*" }, "implicit-deny"],
  [
    "exact action, any resource",
    [doc(allow({ Action: "ec2:RunInstances", Resource: "*" }))],
    { action: "ec2:RunInstances", resource: INSTANCE },
    "allow",
  ],
  [
    "action names are case-insensitive",
    [doc(allow({ Action: "EC2:runinstances", Resource: "*" }))],
    { action: "ec2:RunInstances", resource: "*" },
    "allow",
  ],
  [
    "action wildcard *",
    [doc(allow({ Action: "ec2:Describe*", Resource: "*" }))],
    { action: "ec2:DescribeInstances", resource: "*" },
    "allow",
  ],
  [
    "action wildcard does not cross services",
    [doc(allow({ Action: "ec2:*", Resource: "*" }))],
    { action: "s3:GetObject", resource: "*" },
    "implicit-deny",
  ],
  ["action wildcard ?", [doc(allow({ Action: "s3:?etObject", Resource: "*" }))], { action: "s3:GetObject", resource: "*" }, "allow"],
  [
    "? is exactly one character",
    [doc(allow({ Action: "s3:?Object", Resource: "*" }))],
    { action: "s3:GetObject", resource: "*" },
    "implicit-deny",
  ],
  [
    "one of a list",
    [doc(allow({ Action: ["s3:PutObject", "s3:GetObject"], Resource: "*" }))],
    { action: "s3:GetObject", resource: "*" },
    "allow",
  ],
  [
    "NotAction allows the rest",
    [doc(allow({ NotAction: "iam:*", Resource: "*" }))],
    { action: "ec2:RunInstances", resource: "*" },
    "allow",
  ],
  [
    "NotAction excludes its own",
    [doc(allow({ NotAction: "iam:*", Resource: "*" }))],
    { action: "iam:PassRole", resource: "*" },
    "implicit-deny",
  ],
  [
    "resource ARN wildcard",
    [doc(allow({ Action: "ec2:TerminateInstances", Resource: "arn:aws:ec2:*:*:instance/*" }))],
    { action: "ec2:TerminateInstances", resource: INSTANCE },
    "allow",
  ],
  [
    "resource wildcard stays in its resource type",
    [doc(allow({ Action: "ec2:TerminateInstances", Resource: "arn:aws:ec2:*:*:instance/*" }))],
    { action: "ec2:TerminateInstances", resource: "arn:aws:ec2:us-east-1:000000000000:volume/vol-1" },
    "implicit-deny",
  ],
  [
    "resource ARNs are case-sensitive",
    [doc(allow({ Action: "s3:GetObject", Resource: "arn:aws:s3:::Bucket/*" }))],
    { action: "s3:GetObject", resource: "arn:aws:s3:::bucket/x" },
    "implicit-deny",
  ],
  [
    "an ARN does not match a request on *",
    [doc(allow({ Action: "ec2:DescribeInstances", Resource: "arn:aws:ec2:*:*:instance/*" }))],
    { action: "ec2:DescribeInstances", resource: "*" },
    "implicit-deny",
  ],
  [
    "S3 prefix wildcard",
    [doc(allow({ Action: "s3:PutObject", Resource: "arn:aws:s3:::out/exports/*" }))],
    { action: "s3:PutObject", resource: "arn:aws:s3:::out/exports/e1/part-0.parquet" },
    "allow",
  ],
  [
    "explicit deny wins over allow",
    [doc(allow({ Action: "ec2:*", Resource: "*" }), deny({ Action: "ec2:TerminateInstances", Resource: "*" }))],
    { action: "ec2:TerminateInstances", resource: INSTANCE },
    "explicit-deny",
  ],
  [
    "deny in another policy wins too",
    [doc(allow({ Action: "*", Resource: "*" })), doc(deny({ Action: "iam:*", Resource: "*" }))],
    { action: "iam:PassRole", resource: "arn:aws:iam::000000000000:role/node" },
    "explicit-deny",
  ],
  [
    "a deny that does not match leaves the allow",
    [doc(allow({ Action: "ec2:*", Resource: "*" }), deny({ Action: "ec2:TerminateInstances", Resource: "*" }))],
    { action: "ec2:RunInstances", resource: "*" },
    "allow",
  ],
];

const tagged = (cond: PolicyStatement["Condition"]) => [doc(allow({ Action: "ec2:RunInstances", Resource: "*", Condition: cond }))];
const req = (context: AuthorizationRequest["context"]): AuthorizationRequest => ({ action: "ec2:RunInstances", resource: "*", context });
const conditionCases: [string, PolicyStatement["Condition"], AuthorizationRequest["context"], Decision][] = [
  ["StringEquals holds", { StringEquals: { "aws:RequestTag/pool": "etl" } }, { "aws:RequestTag/pool": "etl" }, "allow"],
  [
    "StringEquals is case-sensitive in values",
    { StringEquals: { "aws:RequestTag/pool": "ETL" } },
    { "aws:RequestTag/pool": "etl" },
    "implicit-deny",
  ],
  ["condition keys are case-insensitive", { StringEquals: { "AWS:REQUESTTAG/pool": "etl" } }, { "aws:RequestTag/pool": "etl" }, "allow"],
  ["StringEquals: values are ORed", { StringEquals: { "aws:RequestTag/pool": ["a", "etl"] } }, { "aws:RequestTag/pool": "etl" }, "allow"],
  ["a missing key fails a positive operator", { StringEquals: { "aws:RequestTag/pool": "etl" } }, {}, "implicit-deny"],
  ["StringNotEquals holds", { StringNotEquals: { "aws:RequestTag/pool": "prod" } }, { "aws:RequestTag/pool": "etl" }, "allow"],
  ["StringNotEquals fails", { StringNotEquals: { "aws:RequestTag/pool": "etl" } }, { "aws:RequestTag/pool": "etl" }, "implicit-deny"],
  ["StringNotEquals holds without the key", { StringNotEquals: { "aws:RequestTag/pool": "etl" } }, {}, "allow"],
  ["StringLike", { StringLike: { "aws:RequestTag/pool": "et*" } }, { "aws:RequestTag/pool": "etl" }, "allow"],
  ["StringLike with ?", { StringLike: { "aws:RequestTag/pool": "e?" } }, { "aws:RequestTag/pool": "etl" }, "implicit-deny"],
  ["StringNotLike", { StringNotLike: { "aws:RequestTag/pool": "prod-*" } }, { "aws:RequestTag/pool": "etl" }, "allow"],
  ["StringNotLike fails", { StringNotLike: { "aws:RequestTag/pool": "e*" } }, { "aws:RequestTag/pool": "etl" }, "implicit-deny"],
  [
    "ArnLike",
    { ArnLike: { "ec2:InstanceProfile": "arn:aws:iam::*:instance-profile/node*" } },
    { "ec2:InstanceProfile": "arn:aws:iam::000000000000:instance-profile/node-etl" },
    "allow",
  ],
  [
    "ArnEquals",
    { ArnEquals: { "ec2:InstanceProfile": "arn:aws:iam::000000000000:instance-profile/node" } },
    { "ec2:InstanceProfile": "arn:aws:iam::000000000000:instance-profile/other" },
    "implicit-deny",
  ],
  ["Bool true", { Bool: { "aws:SecureTransport": "true" } }, { "aws:SecureTransport": "true" }, "allow"],
  ["Bool false", { Bool: { "aws:SecureTransport": "true" } }, { "aws:SecureTransport": "false" }, "implicit-deny"],
  ["Bool without the key", { Bool: { "aws:SecureTransport": "true" } }, {}, "implicit-deny"],
  ["Null true: the key is absent", { Null: { "aws:RequestTag/pool": "true" } }, {}, "allow"],
  ["Null true fails when present", { Null: { "aws:RequestTag/pool": "true" } }, { "aws:RequestTag/pool": "etl" }, "implicit-deny"],
  ["Null false: the key is present", { Null: { "aws:RequestTag/pool": "false" } }, { "aws:RequestTag/pool": "etl" }, "allow"],
  ["Null false fails when absent", { Null: { "aws:RequestTag/pool": "false" } }, {}, "implicit-deny"],
  [
    "ForAllValues: every tag key is allowed",
    { "ForAllValues:StringEquals": { "aws:TagKeys": ["spotferry:pool", "Name"] } },
    { "aws:TagKeys": ["spotferry:pool"] },
    "allow",
  ],
  [
    "ForAllValues: one stray tag key fails",
    { "ForAllValues:StringEquals": { "aws:TagKeys": ["spotferry:pool"] } },
    { "aws:TagKeys": ["spotferry:pool", "owner"] },
    "implicit-deny",
  ],
  ["ForAllValues over no values holds (as on AWS)", { "ForAllValues:StringEquals": { "aws:TagKeys": ["a"] } }, {}, "allow"],
  [
    "ForAllValues:StringLike",
    { "ForAllValues:StringLike": { "aws:TagKeys": ["spotferry:*"] } },
    { "aws:TagKeys": ["spotferry:pool", "spotferry:export"] },
    "allow",
  ],
  [
    "ForAnyValue: one matching value is enough",
    { "ForAnyValue:StringEquals": { "aws:TagKeys": ["spotferry:pool"] } },
    { "aws:TagKeys": ["Name", "spotferry:pool"] },
    "allow",
  ],
  ["ForAnyValue without the key fails", { "ForAnyValue:StringEquals": { "aws:TagKeys": ["spotferry:pool"] } }, {}, "implicit-deny"],
  [
    "ForAnyValue:StringLike with no match",
    { "ForAnyValue:StringLike": { "aws:TagKeys": ["spotferry:*"] } },
    { "aws:TagKeys": ["Name"] },
    "implicit-deny",
  ],
  [
    "operators and keys are ANDed",
    { StringEquals: { "aws:RequestTag/pool": "etl", "iam:PassedToService": "ec2.amazonaws.com" } },
    { "aws:RequestTag/pool": "etl", "iam:PassedToService": "lambda.amazonaws.com" },
    "implicit-deny",
  ],
  [
    "several operators all hold",
    { StringEquals: { "aws:RequestTag/pool": "etl" }, "ForAllValues:StringEquals": { "aws:TagKeys": ["pool"] } },
    { "aws:RequestTag/pool": "etl", "aws:TagKeys": ["pool"] },
    "allow",
  ],
];

test("actions, resources, Allow and Deny", () => {
  for (const [name, policies, request, expected] of cases) assert.equal(evaluate(policies, request), expected, name);
});

test("condition operators", () => {
  for (const [name, cond, context, expected] of conditionCases) assert.equal(evaluate(tagged(cond), req(context)), expected, name);
});

test("a Deny with a condition applies only when the condition holds", () => {
  const policies = [
    doc(
      allow({ Action: "ec2:TerminateInstances", Resource: "*" }),
      deny({
        Action: "ec2:TerminateInstances",
        Resource: "*",
        Condition: { StringNotEquals: { "ec2:ResourceTag/spotferry:pool": "etl" } },
      }),
    ),
  ];
  const terminate = (tags: Record<string, string>): AuthorizationRequest => ({
    action: "ec2:TerminateInstances",
    resource: INSTANCE,
    context: Object.fromEntries(Object.entries(tags).map(([k, v]) => [`ec2:ResourceTag/${k}`, v])),
  });
  assert.equal(evaluate(policies, terminate({ "spotferry:pool": "etl" })), "allow");
  assert.equal(evaluate(policies, terminate({ "spotferry:pool": "web" })), "explicit-deny");
  assert.equal(evaluate(policies, terminate({})), "explicit-deny", "an untagged instance is not the pool's");
});
